import json
import math
import random

import torch

from cadenza_model import duet
from cadenza_model.features import two_stream_features
from cadenza_model.model import ModelConfig, MusicTransformer, with_two_streams
from cadenza_model.training import DuetBatch, duet_batch, duet_nll, held_key_penalty
from cadenza_model.vocab import Vocab

V = Vocab()


def names(tokens, owners):
    out = []
    for t, o in zip(tokens, owners):
        who = "P" if o == duet.PLAYER else "C"
        if V.note_on_base <= t < V.note_off_base:
            out.append(f"{who}on{t - V.note_on_base}")
        elif V.note_off_base <= t < V.shift_base:
            out.append(f"{who}off{t - V.note_off_base}")
        else:
            out.append(f"+{t - V.shift_base + 1}")
    return out


def test_at_one_tick_cadenza_comes_before_the_player_and_neither_ends_the_others_notes():
    # The player holds C4 for a beat; Cadenza plays E4 and C4 (a unison struck after the player's) on
    # the beat, then both move on at beat 1.
    cadenza = [(0, 24, 64), (12, 12, 60)]
    player = [(0, 24, 60), (24, 24, 62)]
    toks, owners = duet.duet_tokens(cadenza, player, V)
    assert names(toks, owners) == [
        "Con64", "Pon60", "+12", "Con60", "+12", "Coff60", "Coff64", "Poff60", "Pon62", "+24", "Poff62"]


def test_a_key_the_player_holds_is_never_cadenzas_to_strike():
    player = [(0, 48, 60)]
    cadenza = [(0, 12, 60), (12, 12, 60), (48, 12, 60), (12, 12, 64)]
    # On the player's tick Cadenza's note came first (it could not have heard it); while the player
    # holds the key it is gone; once the player let go it is Cadenza's again.
    assert duet.drop_doubled(cadenza, player) == [(0, 12, 60), (48, 12, 60), (12, 12, 64)]


def test_the_model_is_scored_only_on_cadenzas_tokens_and_a_shift_cut_short_by_the_player_is_censored():
    cadenza = [(0, 6, 64), (30, 6, 65), (200, 6, 67)]
    player = [(12, 6, 60)]
    toks, owners = duet.duet_tokens(cadenza, player, V)
    assert names(toks, owners) == [
        "Con64", "+6", "Coff64", "+6", "Pon60", "+6", "Poff60", "+12", "Con65", "+6", "Coff65",
        "+48", "+48", "+48", "+20", "Con67", "+6", "Coff67"]
    kinds, js = duet.targets(toks, owners, V)
    scored = list(zip(names(toks, owners)[1:], kinds, js))
    ce, cens = duet.CROSS_ENTROPY, duet.CENSORED
    assert scored[:8] == [
        ("+6", ce, 0), ("Coff64", ce, 0),
        ("+6", cens, 6),      # Cadenza waited at least 6 ticks when the player played
        ("Pon60", cens, 0),   # nothing more of Cadenza's on the player's tick
        ("+6", cens, 6),
        ("Poff60", cens, 0),
        ("+12", ce, 0),       # a wait that ended in Cadenza's own note
        ("Con65", ce, 0)]
    # A wait of the longest shift is a full token, scored as such.
    assert all(k == ce for n, k, _ in scored if n == "+48")


def test_the_censored_score_is_the_probability_of_waiting_longer():
    toks, owners = duet.duet_tokens([(0, 6, 64)], [(10, 4, 60)], V)
    b = duet_batch([([V.style(0)] + toks, [0] + owners, 0)], V)

    class Fixed(torch.nn.Module):
        cfg = None

        def forward(self, x, feats=None):
            g = torch.Generator().manual_seed(1)
            return torch.randn(*x.shape, V.size, generator=g)

    model = Fixed()
    nll, kinds = duet_nll(model, b, V)
    logits = model(b.tokens[:, :-1])
    logp = torch.log_softmax(logits, -1)
    # Position 3 (after [STYLE] Con64 +6 Coff64) predicts the shift of 4 ticks that ends at the
    # player's note.
    i = 3
    assert names(toks, owners)[i] == "+4" and kinds[0, i] == duet.CENSORED
    longer = logp[0, i, V.shift_base + 4:V.shift_base + V.max_shift]
    assert math.isclose(float(nll[0, i]), -float(torch.logsumexp(longer, 0)), rel_tol=1e-5)


def test_the_held_key_penalty_is_the_unlikelihood_of_striking_a_key_the_player_holds():
    # The player holds C4 (60) from tick 0 to 24; Cadenza plays E4 at 6.
    toks, owners = duet.duet_tokens([(6, 12, 64)], [(0, 24, 60)], V)
    b = duet_batch([([V.style(0)] + toks, [0] + owners, 0)], V)
    torch.manual_seed(0)
    m = MusicTransformer(ModelConfig(vocab_size=V.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=32,
                                     features=True, two_streams=True)).eval()
    with torch.no_grad():
        plain, kinds = duet_nll(m, b, V)
        weighed, _ = duet_nll(m, b, V, held_weight=2.0)
        logp = torch.log_softmax(m(b.tokens[:, :-1], two_stream_features(
            b.tokens[:, :-1], b.owners[:, :-1], V, b.start_ticks, m.cfg.role_slots, b.roles)), -1)
    added = (weighed - plain)[0]
    for i, name in enumerate(names(b.tokens[0, 1:].tolist(), b.owners[0, 1:].tolist())):
        # Position i reads the tokens up to i (the style token first) and predicts token i + 1.
        holds = 0 < i < len(toks) and "Poff60" not in names(toks[:i], owners[:i])
        if kinds[0, i] == duet.IGNORED or not holds:
            assert float(added[i]) == 0.0, (i, name)
        else:
            p60 = float(logp[0, i, V.note_on_base + 60].exp())
            assert math.isclose(float(added[i]), -2.0 * math.log(1 - p60), rel_tol=1e-4), (i, name)
    assert float(added.sum()) > 0
    # A key nobody holds costs nothing; one the model is sure to strike, a lot.
    logits = torch.zeros(1, 2, V.size)
    logits[0, :, V.note_on_base + 60] = 20.0
    held = torch.zeros(1, 2, 128)
    held[0, 1, 60] = 1
    pen = held_key_penalty(logits, held, V)
    assert float(pen[0, 0]) == 0.0 and float(pen[0, 1]) > 10


def test_parts_are_split_between_the_player_and_cadenza_or_traded_by_bars():
    four_parts = [(t, 24, 60 + 4 * part, part) for t in range(0, 960, 24) for part in range(4)]
    seen = set()
    for seed in range(80):
        cad, ply, span, role, _chords = duet._split(four_parts, 96, random.Random(seed), duet.P_ALONE)
        if ply and all(d == 48 for _, d, _ in ply) and {p for _, _, p in cad} == {72}:
            seen.add("melody over chords")  # the top part over its block chords
            continue
        if cad and all(d == 48 for _, d, _ in cad) and {p for _, _, p in ply} == {72}:
            seen.add("chords under the melody")  # Cadenza comps under the player's top part
            continue
        if span is None and role != duet.FREE and len(cad) + len(ply) < len(four_parts):
            # A role split that leaves parts out (the soprano given, the bass asked for): whole
            # parts, each one side's.
            assert {p for _, _, p in cad}.isdisjoint({p for _, _, p in ply})
            seen.add("a role against some parts")
            continue
        if len(cad) + len(ply) < len(four_parts):
            # Traded phrases whose calls leave their last beat free: the sides still trade bars.
            assert {o // 96 for o, _, _ in cad}.isdisjoint({o // 96 for o, _, _ in ply})
            seen.add("trading")
            continue
        assert len(cad) + len(ply) == len(four_parts)
        ply_parts = {(p - 60) // 4 for _, _, p in ply}
        cad_parts = {(p - 60) // 4 for _, _, p in cad}
        if not ply:
            seen.add("alone")
        elif ply_parts & cad_parts:
            seen.add("trading")
            onsets = {o for o, _, _ in ply}
            assert all(o not in onsets for o, _, _ in cad)  # a bar is one side's
        else:
            seen.add("parts")
    assert seen == {"alone", "trading", "parts", "melody over chords", "chords under the melody",
                    "a role against some parts"}
    tune = [(t, 12, 60 + (t // 12) % 7, 0) for t in range(0, 960, 12)]
    kinds = set()
    for seed in range(60):
        cad, ply = duet.split_parts(tune, 96, random.Random(seed), p_alone=0.0)
        assert cad and ply
        if all(d == 48 for _, d, _ in ply) and cad == [n[:3] for n in tune]:
            kinds.add("tune over chords")
            continue
        if all(d == 48 for _, d, _ in cad) and ply == [n[:3] for n in tune]:
            kinds.add("chords under the tune")
            continue
        if {o // 96 for o, _, _ in cad}.isdisjoint({o // 96 for o, _, _ in ply}):
            kinds.add("trading")
            continue
        # A canon: one side is the other a bar or two later, at the unison or the octave below.
        lead, follow = sorted((cad, ply), key=lambda x: min(x)[0])
        delay, octave = follow[0][0] - lead[0][0], follow[0][2] - lead[0][2]
        assert delay in (96, 192) and octave in (0, -12)
        assert follow == [(o + delay, d, p + octave) for o, d, p in lead]
        kinds.add("canon")
    assert kinds == {"trading", "canon", "tune over chords", "chords under the tune"}


def test_in_some_duets_one_joins_in_after_the_other_began_and_cadenza_soon():
    piece = [(t, 24, 60 + 4 * part, part) for t in range(0, 96 * 16, 24) for part in range(4)]
    cadenza_late = player_late = 0
    waits = []
    for seed in range(400):
        toks, owners, start = duet.example(piece, 96, V, 255, random.Random(seed), transpose=0, p_alone=0.0)
        notes = [i for i, t in enumerate(toks) if V.note_on_base <= t < V.note_off_base]
        cad = [i for i in notes if owners[i] == duet.CADENZA]
        ply = [i for i in notes if owners[i] == duet.PLAYER]
        # Later by a beat or more in time (events of one tick are ordered Cadenza's first).
        shifts = [i for i, t in enumerate(toks) if t >= V.shift_base]
        if cad and ply and any(cad[0] > i > ply[0] for i in shifts):
            cadenza_late += 1
            waits.append(sum(toks[i] - V.shift_base + 1 for i in shifts if ply[0] < i < cad[0]))
        if cad and ply and any(ply[0] > i > cad[0] for i in shifts):
            player_late += 1
    assert 0.1 < cadenza_late / 400 < 0.3, cadenza_late
    assert 0.15 < player_late / 400 < 0.4, player_late
    # Beside a player Cadenza always begins after the player's first note, so it learns to join soon:
    # a model that saw it wait 0.5-8 beats, as the player does, sat silent beside held chords.
    waits.sort()
    assert waits[len(waits) // 2] <= 48, waits


def test_a_format_3_model_made_two_stream_plays_as_before_while_nobody_else_plays():
    torch.manual_seed(0)
    old = MusicTransformer(ModelConfig(vocab_size=V.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=32,
                                       features=True, dropout=0.0)).eval()
    new = with_two_streams(old).eval()
    toks, owners = duet.duet_tokens([(0, 12, 60), (12, 12, 64), (24, 24, 67)], [], V)
    x = torch.tensor([[V.style(1)] + toks])
    from cadenza_model.features import token_features
    with torch.no_grad():
        a = old(x, token_features(x, V))
        b = new(x, two_stream_features(x, None, V))
    assert torch.allclose(a, b, atol=1e-5)
    # With a player, the player's keys are heard apart from Cadenza's.
    assert names(toks, [0] * 9)[3] == "Con64"
    f = two_stream_features(x, torch.tensor([[0, 0, 0, 0, 1, 0, 1, 0, 0, 0]]), V)
    assert f.player_held[0, 4, 64] == 1 and f.held[0, 4, 64] == 0 and f.held[0, 1, 60] == 1
    assert f.player_held[0, 6].sum() == 0 and f.player[0].tolist() == [0, 0, 0, 0, 1, 0, 1, 0, 0, 0]
    assert f.role[0, 0, 0] == 1 and f.role[0, 1:].sum() == 0


def test_a_two_stream_model_exports_as_format_4_with_parity(tmp_path):
    from cadenza_model.exporting import export_dir

    torch.manual_seed(0)
    m = MusicTransformer(ModelConfig(vocab_size=V.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=32,
                                     features=True, two_streams=True, dropout=0.0))
    diff = export_dir(m, V, ["chorale"], "tiny", {}, tmp_path, parity_tokens=48)
    assert diff <= 1e-4
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format_version"] == 4 and meta["roles"] == ["free"]
    layout = meta["feature_layout"]
    assert layout["player"] == [280, 281] and layout["role"] == [281, 285]


def test_block_chords_hold_the_triad_of_what_sounds_close_under_the_melody():
    # Half a bar of C major (C and G inside, E5 in the melody), then half a bar of A minor under C5.
    melody = [(0, 48, 76), (48, 48, 72)]
    inner = [(0, 48, 60), (0, 48, 67), (48, 48, 57), (48, 48, 64)]
    chords = duet.block_chords(melody + inner, melody, 48)
    assert sorted(p for o, _, p in chords if o == 0) == [48, 64, 67, 72]
    assert sorted(p for o, _, p in chords if o == 48) == [45, 60, 64, 69]
    assert all(d == 48 for _, d, _ in chords)


def test_a_traded_phrase_of_cadenzas_answers_one_of_the_players_in_the_same_window(monkeypatch):
    # Only trading: a window that opened on Cadenza's phrase, nobody heard before it, taught the model
    # to rest for a player's turn when it is alone.
    for name in ("P_CANON", "P_CHORDS_SINGLE", "P_JOIN", "P_LEAD_SILENCE"):
        monkeypatch.setattr(duet, name, 0.0)
    tune = [(t, 12, 60 + (t // 12) % 7, 0) for t in range(0, 96 * 32, 12)]
    for seed in range(100):
        toks, owners, start = duet.example(tune, 96, V, 255, random.Random(seed), transpose=0, p_alone=0.0)
        first = next(i for i, t in enumerate(toks) if V.note_on_base <= t < V.note_off_base)
        assert owners[first] == duet.PLAYER, (seed, start)


def test_a_split_is_labelled_with_the_role_cadenzas_part_plays_in_the_texture():
    # Four parts, the part index its height: 0 the bass, 3 the top.
    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]
    height = {48 + 7 * k: k for k in range(4)}
    roles = {}
    for seed in range(300):
        cad, ply, _span, role, _chords = duet._split(four_parts, 96, random.Random(seed), 0.0)
        cad_parts = {height[p] for _, _, p in cad if p in height}
        if role == duet.MELODY and all(d == 24 for _, d, _ in cad):
            assert cad_parts == {3} and 3 not in {height.get(p) for _, _, p in ply}
        elif role == duet.BASS:
            assert cad_parts == {0}
        elif role == duet.HARMONY and all(d == 24 for _, d, _ in cad):
            assert cad_parts and cad_parts <= {1, 2}
        roles[role] = roles.get(role, 0) + 1
    # Every role comes up, and free stays the most common.
    assert set(roles) == {duet.FREE, duet.MELODY, duet.BASS, duet.HARMONY}, roles
    assert roles[duet.FREE] == max(roles.values()), roles
    # The labels: the top part alone is the melody, the lowest alone the bass, inner parts harmony.
    order = duet.parts_by_height(four_parts)
    assert order == [0, 1, 2, 3]
    assert duet.role_of({3}, order) == duet.MELODY
    assert duet.role_of({0}, order) == duet.BASS
    assert duet.role_of({1, 2}, order) == duet.HARMONY
    assert duet.role_of({0, 3}, order) == duet.FREE
    assert duet.role_of({0}, [0]) == duet.FREE  # one part: no texture to have a role in


def test_a_role_example_carries_its_role_into_the_style_tokens_features():
    from cadenza_model.features import two_stream_features
    from cadenza_model.training import duet_batch
    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]
    found = {}
    for seed in range(200):
        toks, owners, start, role, _ = duet.role_example(four_parts, 96, V, 63, random.Random(seed), 0, 0.0)[:5]
        if toks:
            found.setdefault(role, ([V.style(0)] + toks, [0] + owners, start, role))
    assert len(found) == 4
    examples = [e[:3] + (e[3],) for e in found.values()]
    n = min(len(e[0]) for e in examples)
    examples = [(e[0][:n], e[1][:n], e[2], e[3]) for e in examples]
    b = duet_batch(examples, V)
    f = two_stream_features(b.tokens, b.owners, V, b.start_ticks, 4, b.roles)
    assert f.role[:, 0].argmax(-1).tolist() == [e[3] for e in examples]
    assert float(f.role[:, 1:].abs().sum()) == 0.0  # only the style token carries it


def test_role_examples_pair_the_same_stretch_with_and_without_the_other_parts():
    from cadenza_model.training import role_examples

    class P:
        def __init__(self, notes):
            self.notes, self.bar = notes, 96
    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 1920, 24) for part in range(4)]
    for role, pitches in ((duet.MELODY, {69}), (duet.BASS, {48}), (duet.HARMONY, {55, 62})):
        given, alone = role_examples([P(four_parts)], 0, V, 256, role, 10)
        assert given and len(given) == len(alone)
        for g, a in zip(given, alone):
            assert g[2] == a[2] and g[3] == a[3] == role
            mine = lambda e: {t - V.note_on_base for t, o in zip(e[0], e[1])  # noqa: E731
                              if o == duet.CADENZA and V.note_on_base <= t < V.note_off_base}
            assert mine(g) == mine(a) == pitches
            assert duet.PLAYER in g[1] and duet.PLAYER not in a[1]


def test_chords_under_a_single_tune_are_always_harmony_never_free_and_a_tune_over_chords_mostly_free():
    tune = [(t, 12, 60 + (t // 12) % 7, 0) for t in range(0, 960, 12)]
    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]
    relabelled = {(1, duet.MELODY): 0, (1, duet.HARMONY): 0, (4, "over chords"): 0, (4, "parts"): 0}
    asked = dict.fromkeys(relabelled, 0)
    for seed in range(400):
        for piece, n in ((tune, 1), (four_parts, 4)):
            _, _, _, split_role, over_chords = duet._split(piece, 96, random.Random(seed), 0.0)
            role = duet.role_example(piece, 96, V, 255, random.Random(seed), 0, 0.0)[3]
            key = (n, split_role) if n == 1 else (4, "over chords" if over_chords else "parts")
            assert not over_chords or split_role == duet.MELODY
            if split_role != duet.FREE:
                asked[key] += 1
            if split_role != role:
                assert role == duet.FREE
                relabelled[key] += 1
    # A score's parts sometimes say free; a single tune's chords never do; a tune over the player's
    # chords, a single tune's or a score's top part, three times in four (where Free learns to follow
    # a player's chords).
    assert relabelled[(1, duet.HARMONY)] == 0 and asked[(1, duet.HARMONY)] > 20, (relabelled, asked)
    for key in ((1, duet.MELODY), (4, "over chords")):
        assert asked[key] > 20 and 0.6 < relabelled[key] / asked[key] < 0.9, (key, relabelled, asked)
    assert 0.1 < relabelled[(4, "parts")] / asked[(4, "parts")] < 0.4, (relabelled, asked)


def test_astray_moves_cadenzas_notes_before_a_point_and_keeps_the_rest_as_written():
    cad = [(t, 24, 60 + (t // 24) % 5) for t in range(0, 960, 24)]
    for seed in range(20):
        until, moved = duet.astray(cad, random.Random(seed))
        assert until in {n[0] for n in cad}
        before = [(a, b) for a, b in zip(cad, moved) if a[0] < until]
        assert before and all(b[2] - a[2] == before[0][1][2] - before[0][0][2] != 0 for a, b in before)
        assert [n for n in moved if n[0] >= until] == [n for n in cad if n[0] >= until]


def test_nothing_is_learned_from_a_past_gone_astray():
    from cadenza_model.training import DuetDataset

    class P:
        def __init__(self, notes):
            self.notes, self.bar = notes, 96
    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 1920, 24) for part in range(4)]
    ds = DuetDataset({0: [P(four_parts)]}, V, 128, transpose=0)
    rng = random.Random(3)
    astray = 0
    for _ in range(60):
        e = ds.sample(rng)
        b = duet_batch([e], V)
        kinds = b.kinds[0].tolist()
        if e[4] > 1:
            astray += 1
            # Every prediction of a token before the point is ignored, and the first after it is not
            # (a Cadenza token or the shift before the player's).
            assert set(kinds[:e[4] - 1]) == {duet.IGNORED}
            assert any(k != duet.IGNORED for k in kinds[e[4] - 1:])
        else:
            assert duet.CROSS_ENTROPY in kinds[:8] or duet.CENSORED in kinds[:8]
    assert 5 <= astray <= 35, astray  # about P_ASTRAY of the examples where both play
    # Asked for none (train.py --astray 0), no example goes astray.
    never = DuetDataset({0: [P(four_parts)]}, V, 128, transpose=0, p_astray=0.0)
    assert all(never.sample(rng)[4] == 1 for _ in range(60))


def test_first_at_counts_shifts_from_the_start():
    toks = [V.note_on_base + 60, V.shift_base + 23, V.note_off_base + 60, V.shift_base + 11, V.note_on_base + 62]
    assert duet.first_at(toks, V, 100, 100) == 0
    assert duet.first_at(toks, V, 100, 124) == 2
    assert duet.first_at(toks, V, 100, 130) == 4
    assert duet.first_at(toks, V, 100, 999) == len(toks)


def test_scheduled_sampling_puts_the_models_own_notes_in_cadenzas_past_and_keeps_the_streams_well_formed():
    from cadenza_model.training import own_past

    torch.manual_seed(0)
    m = MusicTransformer(ModelConfig(vocab_size=V.size, d_model=32, n_layer=2, n_head=2, d_ff=64, window=64,
                                     features=True, two_streams=True, dropout=0.0))
    # Cadenza a legato bass line (each note into the next, a fifth over it on each bar's first beat)
    # under the player's held chords, and the same line alone.
    cad = [(t, 36, 48 + (0, 5, 7, 0)[(t // 24) % 4]) for t in range(0, 480, 24)]
    cad += [(t, 36, 55) for t in range(0, 480, 96)]
    ply = [(t, 48, p) for t in range(0, 480, 48) for p in (60, 64, 67)]
    duo = duet.duet_tokens(cad, ply, V)
    alone = duet.duet_tokens(cad, [], V)
    pad = lambda xs, fill: (xs + [fill] * 63)[:63]  # noqa: E731
    ex = [([V.style(0)] + pad(t, V.pad), [0] + pad(o, 0), 0, duet.BASS) for t, o in (duo, alone)]
    b = duet_batch(ex, V)
    on, off = V.note_on_base, V.note_off_base

    class Tempted(torch.nn.Module):
        """The model, drawn to the keys that sound (the player's chord, its own bass notes)."""

        def __init__(self):
            super().__init__()
            self.m, self.cfg = m, m.cfg

        def forward(self, x, feats):
            out = self.m(x, feats).clone()
            out[..., [on + p for p in (48, 53, 55, 60, 64, 67)]] += 8.0
            return out
    drawn = 0
    for seed in range(5):
        c = own_past(Tempted(), b, V, 0.8, random.Random(seed))
        assert torch.equal(c.tokens[1], b.tokens[1]) and torch.equal(c.kinds[1], b.kinds[1])  # alone: as written
        changed = (c.tokens[0] != b.tokens[0]).nonzero().flatten().tolist()
        new_ignored = [i + 1 for i in (c.kinds[0] != b.kinds[0]).nonzero().flatten().tolist()]
        assert all(int(c.kinds[0, i - 1]) == duet.IGNORED for i in new_ignored)
        ons = [i for i in changed if on <= int(b.tokens[0, i]) < off]
        # Only Cadenza's note-ons are drawn (nothing learned from the draw), their note-offs follow them.
        assert ons == new_ignored and all(int(b.owners[0, i]) == duet.CADENZA for i in changed)
        assert len(changed) - len(ons) <= len(ons)
        drawn += len(ons)
        held = [set(), set()]
        row = c.tokens[0].tolist()
        for i, (t, o) in enumerate(zip(row, c.owners[0].tolist())):
            if on <= t < off:
                # Cadenza's note-ons on one tick rise, as written.
                assert not (o == duet.CADENZA and on <= row[i - 1] < off and c.owners[0, i - 1] == o
                            and row[i - 1] >= t)
                assert t - on not in held[o] and (i not in ons or t - on not in held[duet.PLAYER])
                held[o].add(t - on)
            elif off <= t < off + 128:
                assert t - off in held[o]
                held[o].discard(t - off)
    assert drawn >= 10  # some draws are not the note as written


def test_alone_carries_no_role_slot_for_a_model_trained_to_know_it_and_free_for_others(tmp_path):
    from cadenza_model.exporting import export_dir
    from cadenza_model.features import features_of
    from cadenza_model.training import DuetDataset

    four_parts = [(t, 24, 48 + 7 * part, part) for t in range(0, 960, 24) for part in range(4)]

    class P:
        notes, bar = four_parts, 96

    def drawn(alone: bool):
        ds = DuetDataset({0: [P()]}, V, 64, transpose=0, alone=alone)
        rng = random.Random(3)
        return [ds.sample(rng) for _ in range(300)]

    # Only examples nobody else plays in are alone, and only a model trained with `alone` is told so.
    knowing = drawn(True)
    alone = [e for e in knowing if e[3] == duet.ALONE]
    assert 30 <= len(alone) <= 100  # P_ALONE of 300
    assert all(duet.PLAYER not in e[1] for e in alone)
    assert all(e[3] != duet.ALONE for e in drawn(False))
    for k, n in zip(knowing, drawn(False)):
        # The same draws; alone is free to a model that does not know it.
        assert k[:3] == n[:3] and (k[3] == n[3] or (k[3], n[3]) == (duet.ALONE, duet.FREE))
    # No slot on the style token where alone; its own slot everywhere else.
    b = duet_batch(knowing, V)
    f = two_stream_features(b.tokens, b.owners, V, b.start_ticks, 4, b.roles)
    is_alone = b.roles == duet.ALONE
    assert float(f.role[is_alone].abs().sum()) == 0.0
    assert f.role[~is_alone, 0].argmax(-1).tolist() == b.roles[~is_alone].tolist()
    assert float(f.role[~is_alone, 0].sum()) == float((~is_alone).sum())
    # With no owners (all Cadenza's, nobody else), a knowing model's features say alone; others' free.
    cfg = ModelConfig(vocab_size=V.size, d_model=32, n_layer=1, n_head=2, d_ff=64, window=32, features=True,
                      two_streams=True, dropout=0.0, alone=True)
    x = b.tokens[:2, :8]
    assert float(features_of(cfg, x, V).role.abs().sum()) == 0.0
    cfg.alone = False
    assert features_of(cfg, x, V).role[:, 0, 0].tolist() == [1.0, 1.0]
    # model.json says so, for the engine.
    cfg.alone = True
    torch.manual_seed(0)
    export_dir(MusicTransformer(cfg), V, ["chorale"], "tiny", {}, tmp_path, parity_tokens=16)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["alone"] is True and meta["training"]["config"]["alone"] is True
