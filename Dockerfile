# The gopherpay image (compose.yaml builds it as gopherpay:local). Every Python package comes
# from requirements.lock, pinned by version and hash, so two builds a month apart install the
# same files; regenerate the lock with the command at its top after changing dependencies.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY gopherpay_cli ./gopherpay_cli
COPY gopherpayd ./gopherpayd
COPY migrations ./migrations
# The project itself: its dependencies are already there (--no-deps), and so is its build
# backend, the locked setuptools (--no-build-isolation fetches nothing).
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --home /data gopherpay \
    && mkdir -p /data && chown gopherpay /data
USER gopherpay
ENV GOPHERPAY_DATA_DIR=/data
