"""containerd-trio: a container daemon on Trio.

Real containers through runc, checkpoint and restore through CRIU, a REST API in the manner of
the December 2015 containerd, and the structured concurrency of Trio underneath.

The daemon is ``containerd-trio`` (:mod:`containerd_trio.daemon`); the client is ``ctr-trio``
(:mod:`containerd_trio.client`).
"""

__version__ = "0.1.0"
