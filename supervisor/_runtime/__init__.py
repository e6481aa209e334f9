"""
The runtime: the trio driver that owns all time and I/O.

It applies the decisions of `supervisor._policy` (`tree` and `node` drive a
supervisor, `runners` run each kind of child, `incarnation` is one run of a
child, `watchdog` keeps the timers) and never imports a surface (`http`,
`metrics`, `cli`, `integrations`).
"""
