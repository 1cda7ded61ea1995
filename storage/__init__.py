"""Persistence shared by the API and the worker: the database and the file store."""
