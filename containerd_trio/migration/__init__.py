"""Moving a running container from one daemon to another (issue 12).

The source drives (:mod:`.outgoing`): it checkpoints the container and pushes it, as archives,
into a session on the target (:mod:`.incoming`), through the target's API (:mod:`.target`).
Until the target has restored the container and the source has given its copy up, the
container belongs to the source, which resumes it if anything fails.
"""
