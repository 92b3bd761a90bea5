#!/bin/sh
# Leaves proof that the image's entrypoint ran, then runs the given command.
echo "entrypoint ran with: $*" > /tmp/entrypoint-ran
exec "$@"
