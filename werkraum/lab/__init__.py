"""The lab rack: systemd hosts in podman containers standing in for the rack's nodes."""
