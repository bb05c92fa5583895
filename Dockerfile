# authsvc container image: small, non-root, config as a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AUTHSVC_CONFIG_DIR=/etc/authsvc AUTHSVC_HOST=0.0.0.0 AUTHSVC_PORT=8080
COPY --from=build /install /usr/local
COPY config /etc/authsvc
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin authsvc
USER authsvc
VOLUME ["/etc/authsvc"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('AUTHSVC_PORT', '8080'), timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0"]
