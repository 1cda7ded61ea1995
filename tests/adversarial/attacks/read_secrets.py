# where: top
# Looks for host files, other submissions, the test set and secrets; prints what it finds.
import os
WANTED = []  # the test adds the host paths it planted
candidates = ["/etc/passwd", "/etc/shadow", "/root/.bashrc", "/home", "/var", *WANTED]
print("VISIBLE", [p for p in candidates if os.path.exists(p)])
found = []
for top in ("/", "/tmp", "/scratch", "/in"):
    for d, _, files in os.walk(top):
        if not d.startswith(("/proc", "/sys", "/dev", "/usr")) and "-packages" not in d:
            found += [os.path.join(d, f) for f in files if f.startswith(("test_batch", "data_batch"))
                      or f.endswith((".sqlite", ".ckpt", ".db", ".env")) or "skeleton" in f]
print("FOUND", sorted(set(found)))
print("ENV", dict(os.environ))
