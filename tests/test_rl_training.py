"""Tests of the evaluation protocol (ebmlib.rl.training), the config dataclasses, the replay
buffer, the shared TD step of the deep agents, the randomness policy and bad rewards.

The protocol tests use a deterministic toy environment and scripted agents whose greedy
quality is a known function of the number of updates they received, so every evaluation, every
curve and every summary has an exact expected value.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import ebmlib.rl as rl
from ebmlib.rl import agents, training
from ebmlib.rl.buffer import ReplayBuffer, Transitions
from ebmlib.rl.config import DeepQConfig, FreeEnergyConfig, TabularConfig, linear_schedule


# --------------------------------------------------------------------------- toy environment
class RecordingEnv(gym.Env):
    """Episodes of exactly ``length`` steps; reward = the action (0 or 1); obs = step counter.

    Records every seed passed to ``reset`` and counts steps, so tests can see who reset what.
    """

    observation_space = spaces.Discrete(100)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int = 5):
        self.length = length
        self.t = 0
        self.seeds: list[int | None] = []
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seeds.append(seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        self.steps += 1
        return self.t, float(action), False, self.t >= self.length, {}


class ScriptedAgent:
    """Greedy action 1 (reward 1 per step) exactly when ``good(updates)`` is True, else 0.

    Exploratory actions are always 0, so training returns are 0; only greedy evaluations see
    the schedule. ``update`` counts calls and returns 0.
    """

    def __init__(self, good):
        self.good = good
        self.updates = 0
        self.acts = 0

    def act(self, obs, generator=None):
        self.acts += 1
        return 0

    def greedy(self, obs):
        return 1 if self.good(self.updates) else 0

    def update(self, obs, action, reward, next_obs, next_action, terminated):
        self.updates += 1
        return 0.0


def test_train_steps_exact_curve_and_full_budget():
    """The protocol on a scripted agent: evaluations at 0, E, 2E, ..., the budget; exact curve;
    training continues to the full budget after the threshold is met."""
    env, ev = RecordingEnv(5), RecordingEnv(5)
    ag = ScriptedAgent(lambda u: u >= 25)  # good from the 25th update on
    run = training.train_steps(
        env, ag, 60, eval_env=ev, eval_every=10, eval_episodes=3, threshold=5.0, seed=4
    )
    assert run.eval_steps == [0, 10, 20, 30, 40, 50, 60]
    assert run.eval_returns == [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0]
    assert run.eval_std == [0.0] * 7
    assert ag.updates == 60 and env.steps == 60  # the full budget, no early stop
    assert run.first_reached == 30 and run.reached_and_stayed == 30
    assert run.episode_steps == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60]
    assert run.episode_returns == [0.0] * 12
    assert ev.steps == 7 * 3 * 5  # 7 evaluations of 3 episodes of 5 steps
    # seeds: training env once with the run's seed, evaluation env apart (10_000 + seed)
    assert env.seeds[0] == 4 and set(env.seeds[1:]) == {None}
    assert set(s for s in ev.seeds if s is not None) == {10_004}
    assert run.eval_seed == 10_004 and run.total_steps == 60 and run.seed == 4


def test_reached_and_stayed_versus_first_reached():
    """A curve that reaches the threshold, drops, and comes back: first reached at the first
    crossing, "reached and stayed" only from the last entry on."""
    ag = ScriptedAgent(lambda u: 15 <= u < 25 or u >= 35)
    run = training.train_steps(
        RecordingEnv(5), ag, 50, eval_env=RecordingEnv(5), eval_every=10, threshold=5.0
    )
    assert run.eval_returns == [0.0, 0.0, 5.0, 0.0, 5.0, 5.0]
    assert run.first_reached == 20 and run.reached_and_stayed == 40
    assert training.steps_reached_and_stayed([0, 1, 2, 3, 4], [10, 480, 300, 490, 500], 475) == 3
    assert training.steps_reached_and_stayed([0, 1], [500, 400], 475) is None
    assert training.steps_reached_and_stayed([0, 1], [500, 500], 475) == 0
    assert training.steps_reached_and_stayed([0, 1], [500, float("nan")], 475) is None
    with pytest.raises(ValueError, match="lengths"):
        training.steps_reached_and_stayed([0], [1.0, 2.0], 0.0)


def test_budget_not_a_multiple_of_eval_every_and_final_evaluation():
    """The last evaluation is at the budget; ``final_episodes`` consecutive greedy episodes
    close the run; an episode cut by the budget is not recorded."""
    ag = ScriptedAgent(lambda u: u >= 1)
    run = training.train_steps(
        RecordingEnv(4), ag, 23, eval_env=RecordingEnv(4), eval_every=10, final_episodes=7
    )
    assert run.eval_steps == [0, 10, 20, 23]
    assert run.episode_steps == [4, 8, 12, 16, 20]  # the episode running at step 23 is cut
    assert run.final_returns == [4.0] * 7 and run.final_mean == 4.0
    assert run.threshold is None and run.reached_and_stayed is None


def test_summarize_exact_mean_and_spread():
    """Mean and spread over seeds of the last evaluations, and runs that stayed above."""
    runs = []
    for k in (15, 35, 1000):  # good from update 15, 35, never
        runs.append(
            training.train_steps(
                RecordingEnv(5),
                ScriptedAgent(lambda u, k=k: u >= k),
                60,
                eval_env=RecordingEnv(5),
                eval_every=10,
                threshold=5.0,
                seed=len(runs),
            )
        )
    # curves: [0,0,5,5,5,5,5], [0,0,0,0,5,5,5], [0]*7; last 4: means 5, 3.75, 0
    sm = training.summarize(runs, last=4)
    assert sm.final_per_run == [5.0, 3.75, 0.0]
    assert sm.final_mean == pytest.approx(8.75 / 3)
    assert sm.final_std == pytest.approx(float(np.std([5.0, 3.75, 0.0], ddof=1)))
    assert (sm.final_min, sm.final_max) == (0.0, 5.0)
    assert sm.reached_and_stayed == [20, 40, None] and sm.n_reached_and_stayed == 2
    assert sm.seeds == [0, 1, 2] and sm.threshold == 5.0
    with pytest.raises(ValueError, match="last"):
        training.summarize(runs, last=8)
    with pytest.raises(ValueError, match="empty"):
        training.summarize([])


def test_runs_round_trip_through_json(tmp_path):
    """save_runs/load_runs give back equal runs; the file is plain JSON with a format tag."""
    ag = rl.TabularQ(100, 2)
    run = training.train_steps(
        RecordingEnv(5), ag, 30, eval_env=RecordingEnv(5), eval_every=10, final_episodes=2
    )
    path = tmp_path / "runs.json"
    training.save_runs(path, [run], command="pytest")
    doc = json.loads(path.read_text())
    assert doc["format"] == "ebmlib.rl.runs" and doc["meta"] == {"command": "pytest"}
    assert doc["runs"][0]["config"]["lr"] == 0.1
    back, meta = training.load_runs(path)
    assert meta == {"command": "pytest"}
    assert back[0] == run
    with pytest.raises(TypeError, match="StepRun or TrainHistory"):
        training.save_runs(path, [{"eval_steps": []}])
    path.write_text("{}")
    with pytest.raises(ValueError, match="ebmlib.rl.runs"):
        training.load_runs(path)


class ReturnEnv(gym.Env):
    """One-step episodes whose reward is read from a list (cycled)."""

    observation_space = spaces.Discrete(1)
    action_space = spaces.Discrete(1)

    def __init__(self, rewards):
        self.rewards = rewards
        self.i = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        r = self.rewards[self.i % len(self.rewards)]
        self.i += 1
        return 0, float(r), True, False, {}


def test_cartpole_criterion_on_known_returns():
    """CARTPOLE_V1: mean >= 475 over exactly 100 consecutive greedy episodes."""
    assert training.CARTPOLE_V1.threshold == 475.0 and training.CARTPOLE_V1.episodes == 100
    ag = ScriptedAgent(lambda u: False)
    env = ReturnEnv([470.0, 480.0])  # mean exactly 475 over an even number of episodes
    ok, ev = training.meets_criterion(env, ag)
    assert ok and ev.mean_return == 475.0 and len(ev.returns) == 100 and env.i == 100
    ok, ev = training.meets_criterion(ReturnEnv([470.0, 480.0, 474.0]), ag)
    # 34 x 470 + 33 x 480 + 33 x 474 over 100 episodes
    assert not ok and ev.mean_return == pytest.approx((34 * 470 + 33 * 480 + 33 * 474) / 100)
    crit = training.Criterion(1.0, 3, "toy")
    ok, ev = training.meets_criterion(ReturnEnv([1.0, 1.0, 0.0, 5.0]), ag, crit)
    assert not ok and len(ev.returns) == 3
    with pytest.raises(TypeError, match="criterion"):
        training.meets_criterion(env, ag, 475.0)


def test_evaluate_does_not_learn_and_is_a_result():
    """evaluate plays without updating; its result is a frozen Result dataclass."""
    ag = ScriptedAgent(lambda u: True)
    ev = training.evaluate(RecordingEnv(3), ag, 4, seed=1)
    assert ag.updates == 0 and ev.mean_return == 3.0 and ev.std_error == 0.0
    assert ev.terminated_rate == 0.0 and ev.mean_length == 3.0
    assert dict(ev)["mean_return"] == 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.mean_return = 0.0


def test_train_history_is_a_result_with_deprecated_keys():
    """train returns a TrainHistory; the old key "return" still works with a warning."""
    ag = ScriptedAgent(lambda u: True)
    h = training.train(RecordingEnv(5), ag, 3, seed=0)
    assert h.returns == [0.0, 0.0, 0.0] and h.lengths == [5, 5, 5] and h.episode == [1, 2, 3]
    assert ag.updates == 15
    with pytest.warns(DeprecationWarning, match="returns"):
        assert h["return"] == h.returns


def test_train_steps_bad_inputs():
    """Bad arguments name themselves; the training env cannot double as evaluation env."""
    env, ag = RecordingEnv(), ScriptedAgent(lambda u: True)
    with pytest.raises(ValueError, match="eval_env"):
        training.train_steps(env, ag, 10, eval_env=env)
    with pytest.raises(ValueError, match="total_steps"):
        training.train_steps(env, ag, 0, eval_env=RecordingEnv())
    with pytest.raises(ValueError, match="eval_every"):
        training.train_steps(env, ag, 10, eval_env=RecordingEnv(), eval_every=0)
    with pytest.raises(ValueError, match="seed"):
        training.train_steps(env, ag, 10, eval_env=RecordingEnv(), seed=-1)
    with pytest.raises(ValueError, match="threshold"):
        training.train_steps(env, ag, 10, eval_env=RecordingEnv(), threshold=float("nan"))
    with pytest.raises(TypeError, match="agent"):
        training.train_steps(env, object(), 10, eval_env=RecordingEnv())
    with pytest.warns(DeprecationWarning, match="threshold"):
        run = training.train_steps(env, ag, 10, eval_env=RecordingEnv(), target=1.0)
    assert run.threshold == 1.0
    with pytest.warns(DeprecationWarning, match="full budget"):
        training.train_steps(env, ag, 10, eval_env=RecordingEnv(), stop_at_target=True)


def test_default_eval_env_is_a_fresh_copy():
    """Without eval_env, evaluations run on a fresh environment made from the spec."""
    env = gym.make("FrozenLake-v1")
    ag = rl.TabularQ(env.observation_space, env.action_space)
    run = training.train_steps(env, ag, 50, eval_every=25, eval_episodes=2, seed=0)
    assert run.env_id == "FrozenLake-v1" and run.eval_steps == [0, 25, 50]


# --------------------------------------------------------------------------- config, buffer
def test_config_fields_are_checked_and_documented():
    """Every config field has a docstring in the source and bad values name the field."""
    import inspect

    from ebmlib.rl import config as cfgmod

    src = inspect.getsource(cfgmod)
    for cls in (TabularConfig, FreeEnergyConfig, DeepQConfig):
        for f in dataclasses.fields(cls):
            # the field line is followed by its docstring
            i = src.index(f"    {f.name}: ", src.index(f"class {cls.__name__}"))
            nxt = src[i:].split("\n", 2)[1].strip()
            assert nxt.startswith(('"""', 'r"""')), (cls.__name__, f.name)
    for bad, field in [
        (dict(lr=0.0), "lr"),
        (dict(gamma=1.5), "gamma"),
        (dict(batch_size=0), "batch_size"),
        (dict(tau=2.0), "tau"),
        (dict(loss="l1"), "loss"),
        (dict(T=-1.0), "T"),
        (dict(epsilon=linear_schedule(2.0, 0.0, 10)), "epsilon"),
        (dict(backup="mean"), "backup"),
        (dict(hidden=(64, 0)), "hidden"),
    ]:
        with pytest.raises((ValueError, TypeError), match=field):
            DeepQConfig(**bad)
    with pytest.raises(ValueError, match="method"):
        TabularConfig(method="dqn")
    with pytest.raises(ValueError, match="offset_correction"):
        FreeEnergyConfig(offset_correction="yes")
    with pytest.raises(TypeError, match="no field"):
        DeepQConfig().replace(temperature=1.0)
    with pytest.raises(TypeError, match="config"):
        rl.DQN(spaces.Box(-1, 1, (2,)), spaces.Discrete(2), TabularConfig())


def test_agents_take_a_config_or_overrides():
    """``Agent(obs, act, config)`` and ``Agent(obs, act, **fields)`` build the same agent."""
    o, a = spaces.Box(-1, 1, (3,)), spaces.Discrete(2)
    cfg = DeepQConfig(lr=3e-4, hidden=(8,), T=0.5)
    ag1 = rl.SoftQ(o, a, cfg, generator=torch.Generator().manual_seed(0))
    ag2 = rl.SoftQ(o, a, lr=3e-4, hidden=(8,), T=0.5, generator=torch.Generator().manual_seed(0))
    assert ag1.config == ag2.config
    for p1, p2 in zip(ag1.qnet.parameters(), ag2.qnet.parameters(), strict=True):
        torch.testing.assert_close(p1, p2)
    assert ag1.optimizer.param_groups[0]["lr"] == 3e-4
    with pytest.warns(DeprecationWarning, match="'T'"):
        ag3 = rl.SoftQ(o, a, temperature=0.5)
    assert ag3.config.T == 0.5
    with pytest.warns(DeprecationWarning, match="linear_schedule"):
        d = rl.DQN(o, a, epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
    assert d.config.epsilon == linear_schedule(1.0, 0.1, 100)


def test_replay_buffer_ring_and_uniform_sampling():
    """The ring overwrites the oldest transition; sampling is uniform over what is stored.

    Tolerance: 5 binomial standard errors per slot for n = 30000 draws over 3 slots.
    """
    buf = ReplayBuffer(3, 2, 1)
    for i in range(5):
        buf.add([i, i], [i], float(i), [i + 1, i + 1], i == 4)
    assert len(buf) == 3 and buf.pos == 2
    assert buf.rewards.tolist() == [3.0, 4.0, 2.0]
    assert buf.terminated.tolist() == [0.0, 1.0, 0.0]
    batch = buf.sample(30_000, generator=torch.Generator().manual_seed(0))
    assert isinstance(batch, Transitions)
    torch.testing.assert_close(batch.next_obs[:, 0], batch.obs[:, 0] + 1)
    freq = torch.bincount(batch.rewards.long(), minlength=5)[2:].double() / 30_000
    p = 1 / 3
    assert torch.all((freq - p).abs() < 5 * math.sqrt(p * (1 - p) / 30_000))
    state = buf.state_dict()
    buf2 = ReplayBuffer(3, 2, 1)
    buf2.load_state_dict(state)
    assert buf2.rewards.tolist() == [3.0, 4.0, 2.0] and buf2.pos == 2
    with pytest.raises(ValueError, match="reward"):
        buf.add([0, 0], [0], float("nan"), [0, 0], False)
    with pytest.raises(ValueError, match="obs"):
        buf.add([0, 0, 0], [0], 0.0, [0, 0], False)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2, 1).sample(1)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, 1)


# --------------------------------------------------------------------------- the TD step
class LinearQ(torch.nn.Module):
    """``Q(s, a) = w . [s; a]``: a Q-network whose TD gradient has a closed form."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, s, a):
        x = torch.cat([s[:, None, :].expand(-1, a.shape[1], -1), a], -1)
        return x @ self.w


def _batch():
    obs = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    act = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    nxt = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    rew = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    term = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    return Transitions(obs, act, rew, nxt, term)


def check_td_step_matches_hand_computation():
    """Checks eq. (9.10): one SGD step on the squared TD error with a max backup from the
    target network, terminal masking and discount, against a computation by hand."""
    qnet, target = LinearQ([0.5, -1.0, 0.3, 0.2]), LinearQ([1.0, 0.5, -0.2, 0.4])
    opt = torch.optim.SGD(qnet.parameters(), lr=0.1)
    b, gamma = _batch(), 0.9
    eye = torch.eye(2, dtype=torch.float64)

    def vmax(net, s):
        return net(s, eye[None].expand(s.shape[0], -1, -1)).max(-1).values

    # by hand: Q(s,a) = w.[s;a]; V(s') = max_a wt.[s';a]; y = r + gamma (1 - term) V
    x = torch.cat([b.obs, b.actions], 1)
    wt = target.w.detach()
    v = torch.stack([torch.cat([b.next_obs, eye[k].expand(3, 2)], 1) @ wt for k in (0, 1)]).amax(0)
    y = b.rewards + gamma * (1 - b.terminated) * v
    q = x @ qnet.w.detach()
    grad = (2 / 3) * ((q - y)[:, None] * x).sum(0)  # d/dw mean (q - y)^2
    expected = qnet.w.detach() - 0.1 * grad
    err = agents.td_step(qnet, target, opt, b, vmax, gamma=gamma, loss="mse", grad_clip=None)
    assert err == pytest.approx(float((y - q).abs().mean()))
    torch.testing.assert_close(qnet.w.detach(), expected)
    torch.testing.assert_close(target.w.detach(), wt)  # the target does not move in a step


def test_td_step_matches_hand_computation():
    """Checks eq. (9.10) (see :func:`check_td_step_matches_hand_computation`)."""
    check_td_step_matches_hand_computation()


def check_target_copies_every_target_update_steps():
    """With a learning rate of 0 the network never moves, so after the first copy the target
    must equal it; before it (an independent random init) it must not."""
    o, a = spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(2)
    ag = rl.DQN(o, a, hidden=(4,), learning_starts=1, batch_size=2, target_update=3,
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    with torch.no_grad():  # make the target differ from the network
        for pt in ag.target.parameters():
            pt.add_(1.0)
    for g in ag.optimizer.param_groups:
        g["lr"] = 0.0
    s = np.zeros(2, np.float32)

    def same():
        return all(
            torch.equal(p, pt)
            for p, pt in zip(ag.qnet.parameters(), ag.target.parameters(), strict=True)
        )

    ag.update(s, 0, 1.0, s, None, True)
    ag.update(s, 1, 1.0, s, None, True)
    assert not same()
    ag.update(s, 0, 1.0, s, None, True)  # step 3: copy
    assert same()


def test_target_network_copies_and_polyak():
    """Target network: periodic copies every ``target_update`` steps, or Polyak averaging."""
    check_target_copies_every_target_update_steps()
    o, a = spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(2)
    ag = rl.DQN(o, a, hidden=(4,), learning_starts=1, batch_size=2, tau=0.25,
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    before = [pt.clone() for pt in ag.target.parameters()]
    s = np.zeros(2, np.float32)
    ag.update(s, 1, 1.0, s, None, True)
    for p, pt, b0 in zip(ag.qnet.parameters(), ag.target.parameters(), before, strict=True):
        torch.testing.assert_close(pt, 0.75 * b0 + 0.25 * p.detach())


def check_soft_value_and_policy_follow_T():
    """Checks eqs. (11.1)-(11.2) at T = 0.3 (beta > 1) and T = 3 (beta < 1): the soft value
    is T logsumexp(Q/T) and the policy softmax(Q/T) for a finite action set.

    Tolerance of the sampled frequencies: 5 binomial standard errors, n = 20000.
    """
    o, a = spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(3)
    ag = rl.SoftQ(o, a, hidden=(8,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ag.qnet.net[-1].weight.mul_(8.0)  # spread the Q-values
    obs = np.array([0.3, -0.6], np.float32)
    q = ag.q_values(obs).double()
    assert float(q.max() - q.min()) > 0.5
    for T in (0.3, 3.0):
        v = ag.soft_value(torch.as_tensor(obs)[None], T)[0].double()
        assert float(v) == pytest.approx(T * float(torch.logsumexp(q / T, 0)), rel=1e-5)
        p = torch.softmax(q / T, 0).numpy()
        n = 20000
        draws = ag.sample_actions(obs, n, T=T, generator=torch.Generator().manual_seed(2))
        freq = np.bincount(draws.numpy(), minlength=3) / n
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_soft_value_and_policy_follow_T():
    """See :func:`check_soft_value_and_policy_follow_T`."""
    check_soft_value_and_policy_follow_T()


def check_soft_backup_target():
    """The deep agents' TD target with ``backup="soft"`` uses the soft value of the target
    network at the current T (eq. (11.9)); with ``backup="max"`` the max."""
    o, a = spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(3)
    for backup in ("soft", "max"):
        ag = rl.SoftQ(o, a, hidden=(8,), T=0.4, backup=backup,
                      generator=torch.Generator().manual_seed(3))  # fmt: skip
        s2 = torch.tensor([[0.1, 0.2], [0.5, -0.5]])
        with torch.no_grad():
            q = ag.target(s2, torch.eye(3)[None].expand(2, -1, -1)).double()
        want = 0.4 * torch.logsumexp(q / 0.4, -1) if backup == "soft" else q.max(-1).values
        torch.testing.assert_close(ag.next_value(ag.target, s2).double(), want)


def test_soft_backup_target():
    """See :func:`check_soft_backup_target`."""
    check_soft_backup_target()


# --------------------------------------------------------------------------- randomness policy
def _weights(agent):
    if isinstance(agent, rl.FreeEnergyQ):
        return agent.rbm.W.detach().clone()
    return torch.cat([p.detach().reshape(-1) for p in agent.qnet.parameters()])


_BOX = spaces.Box(-1, 1, (3,), np.float32)
_MAKERS = {
    "DQN": lambda: rl.DQN(_BOX, spaces.Discrete(2), hidden=(8,)),
    "SoftQ": lambda: rl.SoftQ(_BOX, spaces.Discrete(2), hidden=(8,)),
    "HopfieldQ": lambda: rl.HopfieldQ(_BOX, spaces.Discrete(2), hidden=(8,), n_patterns=4),
    "FreeEnergyQ": lambda: rl.FreeEnergyQ(4, 2, n_hidden=3, init_std=1.0),
}


@pytest.mark.parametrize("name", sorted(_MAKERS))
def test_global_seed_decides_the_weights(name):
    """generator=None means torch's global RNG: torch.manual_seed(s) reproduces the initial
    weights, and two seeds give different weights (a seed sweep is a real sweep)."""
    torch.manual_seed(11)
    w1 = _weights(_MAKERS[name]())
    torch.manual_seed(11)
    w2 = _weights(_MAKERS[name]())
    torch.manual_seed(12)
    w3 = _weights(_MAKERS[name]())
    assert torch.equal(w1, w2)
    assert not torch.equal(w1, w3)


@pytest.mark.parametrize("name", ["DQN", "SoftQ"])
def test_global_seed_reproduces_a_training_run(name):
    """A whole short run (weights, minibatches, exploration) is reproduced by manual_seed."""
    env = gym.make("CartPole-v1")

    def run(seed):
        torch.manual_seed(seed)
        ag = type(_MAKERS[name]())(env.observation_space, env.action_space, hidden=(8,),
                                   learning_starts=20, batch_size=8)  # fmt: skip
        for ep in range(3):
            training.run_episode(env, ag, seed=ep)  # generator None: the global RNG
        return _weights(ag)

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


# --------------------------------------------------------------------------- bad rewards
_ALL_AGENTS = {
    "TabularQ": (lambda: rl.TabularQ(4, 2), 0, 1),
    "FreeEnergyQ": (lambda: rl.FreeEnergyQ(4, 2, n_hidden=3), 0, 1),
    "IndependentQ": (
        lambda: rl.IndependentQ(
            spaces.MultiDiscrete([3, 3]), spaces.MultiDiscrete([2, 2]), [[0], [1]]
        ),  # fmt: skip
        np.array([0, 1]),
        np.array([1, 0]),
    ),
    "RandomAgent": (lambda: rl.RandomAgent(4, 2), 0, 1),
    "DQN": (
        lambda: rl.DQN(_BOX, spaces.Discrete(2), learning_starts=1, batch_size=1),
        np.zeros(3, np.float32),
        1,
    ),  # fmt: skip
    "SoftQ": (
        lambda: rl.SoftQ(_BOX, spaces.Discrete(2), learning_starts=1, batch_size=1),
        np.zeros(3, np.float32),
        1,
    ),  # fmt: skip
    "HopfieldQ": (
        lambda: rl.HopfieldQ(
            _BOX, spaces.Box(-1, 1, (1,)), learning_starts=1, batch_size=1, langevin_steps=1
        ),
        np.zeros(3, np.float32),
        np.array([0.5], np.float32),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(_ALL_AGENTS))
@pytest.mark.parametrize("reward", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_reward_raises_and_leaves_the_agent_intact(name, reward):
    """A NaN or infinite reward raises a ValueError naming the reward; nothing is stored or
    learned (before, it silently poisoned every later value)."""
    make, obs, action = _ALL_AGENTS[name]
    torch.manual_seed(0)
    ag = make()
    state = json.dumps(_snapshot(ag))
    with pytest.raises(ValueError, match="reward"):
        ag.update(obs, action, reward, obs, action, False)
    assert json.dumps(_snapshot(ag)) == state
    with pytest.raises(TypeError, match="reward"):
        ag.update(obs, action, "1.0", obs, action, False)


def _snapshot(ag):
    if isinstance(ag, agents.DeepQAgent):
        return [len(ag.buffer), ag.steps] + [p.sum().item() for p in ag.qnet.parameters()]
    if isinstance(ag, rl.FreeEnergyQ):
        return [ag.rbm.W.sum().item(), ag.rbm.b.sum().item(), ag.rbm.c.sum().item()]
    if isinstance(ag, rl.TabularQ):
        return ag.table.tolist()
    if isinstance(ag, rl.IndependentQ):
        return [lr.table.tolist() for lr in ag.learners]
    return []


def test_diverging_values_raise_instead_of_nan():
    """A learning rate that makes the free-energy values blow up raises at the update that
    would have produced a non-finite TD error, instead of acting on NaN values."""
    ag = rl.FreeEnergyQ(2, 2, n_hidden=4, lr=1e30, init_std=1.0, gamma=1.0,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    with pytest.raises(ValueError, match="TD error"):
        for _ in range(20):
            ag.update(0, 0, 1.0, 1, 1, False)
    assert bool(torch.isfinite(ag.rbm.W).all())


def test_non_finite_observations_raise():
    """A NaN observation of a Box space is refused by the deep agents."""
    ag = rl.DQN(_BOX, spaces.Discrete(2))
    bad = np.array([0.0, np.nan, 0.0], np.float32)
    with pytest.raises(ValueError, match="obs"):
        ag.greedy(bad)
    with pytest.raises(ValueError, match="next_obs"):
        ag.update(np.zeros(3, np.float32), 0, 0.0, bad, None, False)
    assert len(ag.buffer) == 0


_BAD = {
    "obs": lambda: rl.DQN(_BOX, 2).greedy(np.zeros(4, np.float32)),
    "action": lambda: rl.DQN(_BOX, 2).update(
        np.zeros(3, np.float32), 5, 0.0, np.zeros(3, np.float32), None, False
    ),
    "action_space": lambda: rl.DQN(_BOX, spaces.Box(-1, 1, (1,))),
    "generator": lambda: rl.SoftQ(_BOX, 2, generator=3),
    "config": lambda: rl.SoftQ(_BOX, 2, {"lr": 1.0}),
    "foo": lambda: rl.SoftQ(_BOX, 2, foo=1),
    "n must": lambda: rl.SoftQ(_BOX, 2).sample_actions(np.zeros(3, np.float32), 0),
    "T must": lambda: rl.SoftQ(_BOX, 2).sample_actions(np.zeros(3, np.float32), 1, T=0.0),
    "finite bounds": lambda: rl.HopfieldQ(_BOX, spaces.Box(-np.inf, np.inf, (1,))),
    "action must be finite": lambda: rl.HopfieldQ(_BOX, spaces.Box(-1, 1, (1,))).update(
        np.zeros(3, np.float32), np.array([np.nan]), 0.0, np.zeros(3, np.float32), None, False
    ),
    "n_patterns": lambda: rl.HopfieldQ(_BOX, 2, n_patterns=0),
    "n_hidden": lambda: rl.FreeEnergyQ(3, 2, n_hidden=0),
    "lr(0)": lambda: rl.FreeEnergyQ(3, 2, lr=lambda e: -1.0),
    "n_chains": lambda: rl.FreeEnergyQ(3, spaces.MultiBinary(3)).gibbs_actions(0, n_chains=0),
    "episode": lambda: rl.TabularQ(3, 2).begin_episode(-1),
    "T(0)": lambda: rl.TabularQ(3, 2, T=lambda e: float("nan")),
    "dtype": lambda: ReplayBuffer(3, 2, dtype=torch.int64),
    "runs": lambda: training.summarize([1, 2]),
}


@pytest.mark.parametrize("what", sorted(_BAD))
def test_bad_inputs_name_the_argument(what):
    """Bad arguments raise a ValueError or TypeError whose message names the argument."""
    with pytest.raises((ValueError, TypeError), match=re.escape(what)):
        _BAD[what]()


def test_langevin_refuses_nan_energies():
    """langevin_sample raises on NaN energies at the start or at a MALA proposal (before, it
    passed them through); an energy of +inf at a proposal is a zero density and is rejected."""
    with pytest.raises(ValueError, match="x0"):
        rl.langevin_sample(lambda x: (x * float("nan")).sum(-1), torch.zeros(3, 2), 0.1, 2)

    def nan_right(x):
        return torch.where(x[:, 0] > 0.5, float("nan"), (x**2).sum(-1))

    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="proposal"):
        rl.langevin_sample(nan_right, torch.zeros(50, 2), 0.5, 20, g, metropolis=True)

    def wall(x):
        return torch.where(x[:, 0] > 0.5, float("inf"), (x**2).sum(-1))

    out = rl.langevin_sample(wall, torch.zeros(50, 2), 0.5, 20, g, metropolis=True)
    assert bool((out[:, 0] <= 0.5).all())
