"""The benchmark harness behind bench/run: smtpshell beside smtplib, swaks and s_client.

Modules: install (the private venv with smtpshell installed from a wheel), servers
(the practice server, the bench sink, a real MTA), flows (the SMTP lines every tool
sends), tools (each tool's command line), measure (one timed process, or one in a
pty), tasks (the paired runs), report (the table), cli (bench/run's options).
Scripts run by the venv's interpreter, not imported here: sink.py, smtplib_peer.py,
mta.py.
"""
