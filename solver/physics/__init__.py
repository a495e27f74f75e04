"""Physics terms: one module per term of ``docs/theory.md``.

Each term (:class:`~solver.physics.term.Term`) names the unknown blocks it touches, adds its
contribution to the residuals, its Dirichlet conditions, and the outputs it provides.
``solver.problem.Simulation`` picks the terms from the configuration and sums them:

* :mod:`~solver.physics.conduction`: ionic conduction in a single-ion region;
* :mod:`~solver.physics.salt`: binary (dilute or concentrated) salt transport, c or ln c;
* :mod:`~solver.physics.faradaic`: Faradaic kinetics per Li-surface part, or primary contact;
* :mod:`~solver.physics.transfer`: the interfacial ion-transfer resistance;
* :mod:`~solver.physics.counter`: the counter electrode (reservoir or Li);
* :mod:`~solver.physics.control`: galvanostatic constraint or potentiostatic control;
* :mod:`~solver.physics.leakage`: electronic leakage (a post-processing solve);
* :mod:`~solver.physics.sources`: manufactured sources (verification);
* :mod:`~solver.physics.surface_energy`: the surface-energy shift of the overpotential.
"""
