# One image for every StinkyKitty process: web (gunicorn), worker, beat and `flask setup`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=app \
    STINKY_DATA_DIR=/var/lib/stinkykitty

WORKDIR /srv/stinkykitty

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app ./app
COPY migrations ./migrations
COPY celeryconfig.py cli.py worker.py ./
# Bytecode made once here: PYTHONDONTWRITEBYTECODE would otherwise have every
# `flask` command compile the app's modules again (~0.2 s of its start-up).
RUN python -m compileall -q app migrations celeryconfig.py cli.py worker.py

# Run unprivileged; a new named volume mounted on the data dir takes this owner.
RUN useradd --system --uid 10001 --home-dir /var/lib/stinkykitty stinky \
    && mkdir -p /var/lib/stinkykitty \
    && chown stinky:stinky /var/lib/stinkykitty
USER stinky
VOLUME ["/var/lib/stinkykitty"]

EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", \
     "--access-logfile", "-", "app:create_app()"]
