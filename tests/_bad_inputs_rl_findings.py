# ruff: noqa: E501 (one observation per line)
"""Known bad-input findings in ``ebmlib.rl`` modules whose owners are still changing them.

Each entry is ``{spec id: {family: what the suite observed}}``; ``tests/test_bad_inputs_rl.py``
marks those (spec, family) tests ``xfail(strict=True)`` with the observation as the reason, so a
fix turns the test into an unexpected pass and the entry must then be removed. The observations
were recorded by running the suite (argument (bad value): what happened).
"""

FINDINGS: dict[str, dict[str, str]] = {
    "rl.energy_agents.HopfieldQ.embed": {
        "shape": "obs (1 more along axis 1): bare RuntimeError; actions (1 more along axis 2): bare RuntimeError",
        "mixdtype": "",
    },
    "rl.energy_agents.HopfieldQ.make_qnet": {
        "wrongtype": "obs_dim (a string): error without the argument's name; obs_dim (a 2-element tensor): error without the argument's name; obs_dim (a float): error without the ...",
    },
    "rl.energy_agents.HopfieldQNet.forward": {
        "nan": "s (one NaN entry): accepted silently; a (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently; a (one inf entry): accepted silently",
        "empty": "s (size 0 on axis 0): bare RuntimeError; a (size 0 on axis 0): bare RuntimeError",
        "numpy": "s (numpy array): bare AttributeError; a (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare IndexError; a (extra l...",
        "shape": "s (1 more along axis 1): bare RuntimeError; a (1 more along axis 2): bare RuntimeError",
        "dtype": "s (complex): bare RuntimeError; a (complex): bare RuntimeError",
        "device": "s (on meta): bare RuntimeError; a (on meta): bare RuntimeError",
        "mixdtype": "",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name; a (a string): bare AttributeError; a (a list): bare Attribute...",
    },
    "rl.energy_agents.HopfieldQNet.free_energy": {
        "nan": "xi (one NaN entry): accepted silently",
        "inf": "xi (one inf entry): accepted silently",
        "numpy": "xi (numpy array): error without the argument's name",
        "ndim": "xi (extra trailing dim): bare RuntimeError; xi (0-d): bare RuntimeError",
        "shape": "xi (1 more along axis 1): bare RuntimeError",
        "dtype": "xi (torch.int64): bare RuntimeError; xi (float16): bare RuntimeError; xi (complex): bare RuntimeError",
        "device": "xi (on meta): accepted silently",
        "mixdtype": "xi (torch.float64): bare RuntimeError",
        "wrongtype": "xi (a string): error without the argument's name; xi (a list): error without the argument's name",
        "empty": "xi (size 0 on axis 1): bare RuntimeError",
    },
    "rl.energy_agents.HopfieldQNet.index_posterior": {
        "nan": "xi (one NaN entry): accepted silently",
        "inf": "xi (one inf entry): accepted silently",
        "numpy": "xi (numpy array): error without the argument's name",
        "ndim": "xi (extra trailing dim): bare RuntimeError; xi (0-d): bare RuntimeError",
        "shape": "xi (1 more along axis 1): bare RuntimeError",
        "dtype": "xi (torch.int64): bare RuntimeError; xi (float16): bare RuntimeError; xi (complex): bare RuntimeError",
        "device": "xi (on meta): accepted silently",
        "mixdtype": "xi (torch.float64): bare RuntimeError",
        "wrongtype": "xi (a string): error without the argument's name; xi (a list): error without the argument's name",
        "empty": "xi (size 0 on axis 1): bare RuntimeError",
    },
    "rl.energy_agents.MLPQNet.forward": {
        "nan": "s (one NaN entry): accepted silently; a (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently; a (one inf entry): accepted silently",
        "empty": "s (size 0 on axis 0): bare RuntimeError; a (size 0 on axis 0): bare RuntimeError",
        "numpy": "s (numpy array): bare AttributeError; a (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare IndexError; a (extra l...",
        "shape": "s (1 more along axis 1): bare RuntimeError; a (1 more along axis 2): bare RuntimeError",
        "dtype": "s (complex): bare RuntimeError; a (complex): bare RuntimeError",
        "device": "s (on meta): bare RuntimeError; a (on meta): bare RuntimeError",
        "mixdtype": "",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name; a (a string): bare AttributeError; a (a list): bare Attribute...",
    },
    "rl.energy_agents.SoftQ.make_qnet": {
        "wrongtype": "obs_dim (a string): error without the argument's name; obs_dim (a 2-element tensor): error without the argument's name; obs_dim (a float): error without the ...",
    },
    "rl.models.DeepEnergyModel.fit": {
        "nan": "",
        "inf": "",
        "wrongtype": "leapfrog_steps (a string): error without the argument's name; leapfrog_steps (a 2-element tensor): error without the argument's name; leapfrog_steps (a float...",
        "int": "leapfrog_steps (0): error without the argument's name; leapfrog_steps (-1): error without the argument's name",
        "positive": "",
    },
    "rl.models.DeepEnergyModel.log_density": {
        "nan": "log_z (NaN): accepted silently",
        "inf": "log_z (inf): accepted silently",
        "wrongtype": "log_z (a string): error without the argument's name; log_z (a 2-element tensor): bare RuntimeError",
    },
    "rl.models.DeepEnergyModel.log_partition_grid": {
        "inf": "high (inf): error without the argument's name",
        "wrongtype": "low (a string): error without the argument's name; low (a 2-element tensor): bare RuntimeError; high (a string): error without the argument's name; high (a 2...",
    },
    "rl.models.grid": {
        "inf": "high (inf): accepted silently",
        "wrongtype": "low (a string): error without the argument's name; low (a 2-element tensor): bare RuntimeError; high (a string): error without the argument's name; high (a 2...",
    },
    "rl.models.ring_mixture": {
        "wrongtype": "dtype (a complex dtype): accepted silently; dtype (an integer dtype): bare NotImplementedError; dtype (a string): bare RuntimeError",
    },
    "rl.models.ring_mixture_log_density": {
        "nan": "radius (NaN): accepted silently; sigma (NaN): accepted silently",
        "inf": "radius (inf): accepted silently; sigma (inf): accepted silently",
        "wrongtype": "n_modes (a string): error without the argument's name; n_modes (a 2-element tensor): error without the argument's name; n_modes (a float): accepted silently;...",
        "int": "n_modes (0): error without the argument's name; n_modes (-1): bare RuntimeError",
        "positive": "sigma (0.0): error without the argument's name; sigma (-1.0): accepted silently",
    },
    "rl.thinking.AttentionQ.attention": {
        "empty": "thought (size 0): error without the argument's name",
        "shape": "thought (1 more along axis 0): error without the argument's name",
    },
    "rl.thinking.AttentionQ.next_value": {
        "nan": "next_obs (one NaN entry): error without the argument's name",
        "inf": "next_obs (one inf entry): error without the argument's name",
        "empty": "next_obs (size 0 on axis 0): error without the argument's name",
        "numpy": "next_obs (numpy array): error without the argument's name",
        "ndim": "next_obs (extra leading dim): bare RuntimeError; next_obs (extra trailing dim): bare RuntimeError; next_obs (one dim fewer): bare IndexError; next_obs (0-d):...",
        "shape": "next_obs (1 more along axis 1): bare RuntimeError",
        "dtype": "next_obs (torch.int64): bare RuntimeError; next_obs (bool): bare RuntimeError; next_obs (float16): bare RuntimeError; next_obs (complex): bare RuntimeError",
        "device": "next_obs (on meta): bare RuntimeError",
        "mixdtype": "next_obs (torch.float64): bare RuntimeError",
        "wrongtype": "net (a number instead of a callable/model): error without the argument's name; next_obs (a string): error without the argument's name; next_obs (a list): err...",
    },
    "rl.thinking.AttentionQ.update": {
        "wrongtype": "reward (a string): accepted silently; reward (a 2-element tensor): error without the argument's name",
    },
    "rl.thinking.AttentionQNet.attention": {
        "nan": "s (one NaN entry): accepted silently; a (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently; a (one inf entry): accepted silently",
        "numpy": "s (numpy array): error without the argument's name; a (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare RuntimeError; a (extra...",
        "shape": "s (1 more along axis 1): bare RuntimeError; a (1 more along axis 1): bare RuntimeError",
        "dtype": "s (torch.int64): bare RuntimeError; s (float16): bare RuntimeError; s (complex): bare RuntimeError; a (torch.int64): bare RuntimeError; a (bool): bare NotImp...",
        "device": "s (on meta): bare RuntimeError; a (on meta): accepted silently",
        "mixdtype": "",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name; a (a string): error without the argument's name; a (a list): ...",
        "empty": "s (size 0 on axis 1): bare RuntimeError; a (size 0 on axis 1): bare RuntimeError",
    },
    "rl.thinking.AttentionQNet.forward": {
        "nan": "s (one NaN entry): accepted silently; a (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently; a (one inf entry): accepted silently",
        "numpy": "s (numpy array): error without the argument's name; a (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare RuntimeError; a (extra...",
        "shape": "s (1 more along axis 1): bare RuntimeError; a (1 more along axis 1): bare RuntimeError",
        "dtype": "s (torch.int64): bare RuntimeError; s (float16): bare RuntimeError; s (complex): bare RuntimeError; a (torch.int64): bare RuntimeError; a (bool): bare NotImp...",
        "device": "s (on meta): bare RuntimeError; a (on meta): accepted silently",
        "mixdtype": "",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name; a (a string): error without the argument's name; a (a list): ...",
        "empty": "s (size 0 on axis 1): bare RuntimeError; a (size 0 on axis 1): bare RuntimeError",
    },
    "rl.thinking.AttentionQNet.patterns": {
        "nan": "s (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently",
        "numpy": "s (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare RuntimeError",
        "shape": "s (1 more along axis 1): bare RuntimeError",
        "dtype": "s (torch.int64): bare RuntimeError; s (float16): bare RuntimeError; s (complex): bare RuntimeError",
        "device": "s (on meta): bare RuntimeError",
        "mixdtype": "s (torch.float64): bare RuntimeError",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name",
        "empty": "s (size 0 on axis 1): bare RuntimeError",
    },
    "rl.thinking.AttentionQNet.scores": {
        "nan": "s (one NaN entry): accepted silently; a (one NaN entry): accepted silently",
        "inf": "s (one inf entry): accepted silently; a (one inf entry): accepted silently",
        "numpy": "s (numpy array): error without the argument's name; a (numpy array): error without the argument's name",
        "ndim": "s (extra leading dim): bare RuntimeError; s (extra trailing dim): bare RuntimeError; s (one dim fewer): bare IndexError; s (0-d): bare RuntimeError; a (extra...",
        "shape": "s (1 more along axis 1): bare RuntimeError; a (1 more along axis 1): bare RuntimeError",
        "dtype": "s (torch.int64): bare RuntimeError; s (float16): bare RuntimeError; s (complex): bare RuntimeError; a (torch.int64): bare RuntimeError; a (bool): bare NotImp...",
        "device": "s (on meta): bare RuntimeError; a (on meta): accepted silently",
        "mixdtype": "",
        "wrongtype": "s (a string): error without the argument's name; s (a list): error without the argument's name; a (a string): error without the argument's name; a (a list): ...",
        "empty": "s (size 0 on axis 1): bare RuntimeError; a (size 0 on axis 1): bare RuntimeError",
    },
    "rl.thinking.thought_log_probs": {
        "extreme": "T (0.001): result differs",
    },
    "rl.thoughts.DeductionEnv": {
        "wrongtype": "instance_seed (a string): error without the argument's name; instance_seed (a 2-element tensor): error without the argument's name; instance_seed (a float): ...",
        "int": "instance_seed (-1): error without the argument's name",
    },
    "rl.thoughts.DeductionInstance.ancestors": {
        "wrongtype": "goal (a string): accepted silently; goal (a float): accepted silently",
    },
    "rl.thoughts.DeductionInstance.rules_for": {
        "wrongtype": "head (a string): accepted silently; head (a 2-element tensor): bare RuntimeError; head (a float): accepted silently",
    },
    "rl.thoughts.judge": {
        "wrongtype": "memory (a string): error without the argument's name; memory (a 2-element tensor): bare RuntimeError; memory (a float): accepted silently",
    },
    "rl.thoughts.minimum_steps": {
        "wrongtype": "max_nodes (a string): accepted silently; max_nodes (a float): accepted silently",
    },
    "rl.thoughts.rollout": {
        "wrongtype": "policy (a number instead of a callable/model): error without the argument's name",
    },
}
