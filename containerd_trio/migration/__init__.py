"""Moving a running container from one daemon to another (issue 12).

The source drives (:mod:`.outgoing`): it checkpoints the container and pushes it, as archives,
into a session on the target (:mod:`.incoming`), through the target's API (:mod:`.target`).
Until the target has restored the container and the source has given its copy up, the
container belongs to the source, which resumes it if anything fails. Both sides record what
they have under way (:mod:`.ledger`), so that a server that dies mid-move leaves the next one
the means to settle it: the target's clears what its sessions received (:mod:`.incoming`), the
source's asks the target what became of the move and ends it as that says (:mod:`.left`); a
live move whose target cannot say is settled by the same questions, in its own server.
"""
