# Sourced. enable_unit NAME.service: what `systemctl enable` does for a unit WantedBy
# multi-user.target, done by hand so that it also works while building an image without systemd
# running (the docker source).
enable_unit() {
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -sf "/etc/systemd/system/$1" "/etc/systemd/system/multi-user.target.wants/$1"
}
