CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_sha256 VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (token_sha256)
);

CREATE TABLE batches (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	token_name VARCHAR(100) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE submissions (
	id VARCHAR(32) NOT NULL, 
	student_id VARCHAR(64) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	batch_id VARCHAR(32), 
	created_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	skip_training BOOLEAN NOT NULL, 
	regrade BOOLEAN NOT NULL, 
	sent_at DATETIME, 
	started_at DATETIME, 
	heartbeat_at DATETIME, 
	finished_at DATETIME, 
	attempts INTEGER NOT NULL, 
	worker VARCHAR(200), 
	progress_json TEXT, 
	score FLOAT, 
	max_score FLOAT, 
	accuracy FLOAT, 
	structure_json TEXT, 
	report_json TEXT, 
	config_key VARCHAR(64), 
	failure TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(batch_id) REFERENCES batches (id)
);

CREATE INDEX ix_submissions_batch_id ON submissions (batch_id);

CREATE INDEX ix_submissions_config_key ON submissions (config_key);

CREATE INDEX ix_submissions_created_at ON submissions (created_at);

CREATE INDEX ix_submissions_sha256 ON submissions (sha256);

CREATE INDEX ix_submissions_status ON submissions (status);

CREATE INDEX ix_submissions_student_id ON submissions (student_id);
