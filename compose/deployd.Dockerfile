# compose.yaml's deployd image: Debian 12 with what ./dev installs (system packages and uv),
# so the container starts at once; the checkout itself is mounted at /src.
ARG BASE=debian:bookworm
FROM $BASE
COPY scripts/prerequisites.sh /opt/deployd/prerequisites.sh
RUN bash -c 'set -euo pipefail; . /opt/deployd/prerequisites.sh; \
    need_packages "${DEV_PACKAGES[@]}" "${DEV_EXTRAS[@]}"; need_uv; rm -rf /var/lib/apt/lists/*'
