"""The backup core: archives, database dump and load, system backups, site exports.

Plain functions and small classes that take paths, a config mapping, an engine
and a clock. No Flask request objects and no Celery in here: the CLI, the tasks
and the views all call these.
"""
