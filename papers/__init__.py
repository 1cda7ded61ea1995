"""The report deliverable: turn the bytes of a student's report PDF into checked facts.

`papers.intake.check_upload` is the upload route's cheap header check; `papers.check.check_pdf`
is the one entry point for the worker: it parses the PDF in the sandbox (papers/sandbox_main.py,
with papers/extract.py, our code on untrusted bytes), validates what comes back
(papers/facts.py), then runs the pure format checks (papers/checks.py) and finds the accuracy
the report states (papers/claims.py). Nothing here imports web, database or queue code, and
nothing happens at import.
"""
