#!/bin/sh
# Installs what packer/stage.sh gathered (uploaded to /tmp/deckhand-stage): Node.js as
# /usr/local/bin/node, Deckhand in /opt/deckhand with /usr/local/bin/deckhand, and the task
# driver plugin as /opt/nomad/plugins/deckhand (the name its plugin block goes by).
set -eu
stage=/tmp/deckhand-stage
install -m 0755 "$stage/node/node" /usr/local/bin/node
rm -rf /opt/deckhand
mkdir -p /opt/deckhand /opt/nomad/plugins
cp -a "$stage/deckhand/." /opt/deckhand/
chown -R root:root /opt/deckhand
ln -sf /opt/deckhand/bin/deckhand.js /usr/local/bin/deckhand
install -m 0755 "$stage/plugin/deckhand" /opt/nomad/plugins/deckhand
rm -rf "$stage"
echo "install-deckhand: node $(/usr/local/bin/node --version), deckhand $(/usr/local/bin/deckhand --version)"
