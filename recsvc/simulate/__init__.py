"""``recsvc simulate``: run the demo app forward day by day and compare push policies on the same users.

The simulated users answer pushes by a hidden response model (:mod:`~recsvc.simulate.response`) that
recsvc's models never read; they only see the events it produces. The package, in reading order:
:mod:`~recsvc.simulate.response` (the users and how they answer), :mod:`~recsvc.simulate.policies`
(who gets which push when), :mod:`~recsvc.simulate.service` (the real engine behind the servicer,
its ingestion and training), :mod:`~recsvc.simulate.run` (the day loop) and
:mod:`~recsvc.simulate.summary` (the JSON).

The command (:mod:`~recsvc.simulate.commands`) imports the rest only when it runs, so ``recsvc --help``
stays fast.
"""
