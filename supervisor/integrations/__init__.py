"""Integrations with the systems a tree runs among (etcd, systemd, Consul).

Each integration is a service: it contributes children to the tree's system
supervisor and reads the tree through its observer; the core never imports
this package.
"""
