"""smtpshell: an interactive SMTP shell."""

__version__ = "0.1.0"
