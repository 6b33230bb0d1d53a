"""Optional techniques from other binary-weight accelerators, modelled on Hyperdrive workloads.

- :mod:`~hyperdrive_sim.techniques.kernel_reuse`: operation pruning by reusing a related
  kernel's output (Gao, Liu, Lai): adds saved, and the cycles a lock-step array can skip.
- :mod:`~hyperdrive_sim.techniques.weight_cache`: an on-chip weight cache kept across frames
  (Vieira et al.): off-chip weight bits per frame for a given capacity and policy.

Both only compute counts; turning them into cycles, energy and specs is the simulator's job.
"""
