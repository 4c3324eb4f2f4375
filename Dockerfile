FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BILLING_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
COPY workers ./workers
# Editable install keeps migrations/ beside the package, where `billing migrate` looks for it.
RUN pip install --no-cache-dir -e . && useradd --create-home billing
USER billing
EXPOSE 8000
CMD ["billing", "serve", "--host", "0.0.0.0", "--port", "8000"]
