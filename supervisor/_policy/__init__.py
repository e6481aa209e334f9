"""
The pure policy: what a supervisor decides, with no trio, no clock and no
threads (callers pass times and facts in; nothing here performs an effect).

- `intensity`: the restart window (OTP's ``add_restart``).
- `backoff`: the delays between restarts of one child.
- `strategy`: which siblings a restart touches, and in which order.
- `exits`: what to do when an incarnation ends (OTP's ``do_restart``).
- `lifecycle`: which state changes of a child are possible.
"""
