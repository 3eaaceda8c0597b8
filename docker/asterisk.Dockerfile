# Asterisk 22 from Debian sid, configured from docker/asterisk/ (the same files the
# sandbox runs). Build from the repository root:
#   docker build -f docker/asterisk.Dockerfile -t ivr-agent-asterisk .
FROM debian:sid-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends asterisk asterisk-core-sounds-en sox \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o asterisk -g asterisk /var/spool/asterisk/recording
COPY docker/asterisk/ /etc/asterisk/
COPY dialplans/ivr-agent-hooks.conf /etc/asterisk/ivr-agent-hooks.conf
USER asterisk
CMD ["asterisk", "-f", "-U", "asterisk", "-G", "asterisk"]
