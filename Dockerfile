# authsvc container image: small, non-root, config as a volume.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: a change to the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install --no-cache-dir --prefix=/install -r requirements.txt
COPY config ./config
COPY service ./service
RUN pip install --no-cache-dir --no-deps --prefix=/install .

FROM python:3.11.11-slim-bookworm
# Every setting comes from the environment (AUTHSVC_HOST included), so an operator's
# AUTHSVC_* variables are never overridden by the command line.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AUTHSVC_CONFIG_DIR=/etc/authsvc AUTHSVC_HOST=0.0.0.0 AUTHSVC_PORT=8080
COPY --from=build /install /usr/local
COPY config /etc/authsvc
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin authsvc
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
VOLUME ["/etc/authsvc"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('AUTHSVC_PORT', '8080'), timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service", "serve"]
