# gunicorn -c config/gunicorn.conf.py config.wsgi
# The access log records the path without its query string (the official SDK sends API keys
# as ?api_key=...), and every line, access and error, is redacted of anything shaped like a
# key (config/gunicorn_logging.py): a key pasted into a path never reaches the log.
bind = "127.0.0.1:8000"
workers = 3
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
logger_class = "config.gunicorn_logging.RedactingLogger"
