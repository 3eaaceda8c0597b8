# Asterisk 22 from Debian sid, configured from docker/asterisk/ (the same files the
# sandbox runs). Build from the repository root:
#   docker build -f docker/asterisk.Dockerfile -t ivr-agent-asterisk .
FROM debian:sid-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        asterisk asterisk-core-sounds-en asterisk-moh-opsound-wav sox espeak-ng \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o asterisk -g asterisk /var/spool/asterisk/recording /run/asterisk
# As the sandbox's PBX (src/ivr_agent/sim/sandbox_setup.py PBX_OPTIONS): send silence while
# a channel waits, so the far end's talk detection notices a prompt ended.
RUN sed -i 's/^\[options\]$/[options]\ntransmit_silence = yes/' /etc/asterisk/asterisk.conf \
    && grep -q '^transmit_silence = yes' /etc/asterisk/asterisk.conf
# The hook's local fallback greeting (played when the agent is down: never dead air), in the
# catalogue's Mandarin voice (plain `cmn` reads hanzi as spelled-out pinyin). The prompts
# themselves come from the agent over HTTP.
RUN install -d /usr/share/asterisk/sounds/ivr-agent \
    && espeak-ng -v cmn-latn-pinyin -w /tmp/welcome.wav "您好,这里是示例公司客服热线" \
    && sox /tmp/welcome.wav -r 8000 -c 1 -b 16 /usr/share/asterisk/sounds/ivr-agent/welcome.wav \
    && rm /tmp/welcome.wav
COPY docker/asterisk/ /etc/asterisk/
COPY src/ivr_agent/share/dialplans/ivr-agent-hooks.conf /etc/asterisk/ivr-agent-hooks.conf
USER asterisk
CMD ["asterisk", "-f", "-U", "asterisk", "-G", "asterisk"]
