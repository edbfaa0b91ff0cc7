"""Linear probes on frozen VideoMAE features: action classes, and the temporal-order probe.

Features are the encoder's mean-pooled tokens of the whole, unmasked clip (what the classifier
head sees). A probe is multinomial logistic regression fitted with L-BFGS on standardized
features, so the number measures the features, not a fine-tuning schedule.
"""

from __future__ import annotations

import numpy as np
import torch

from training.data import pixel_values


@torch.no_grad()
def features(encoder, clips: np.ndarray, size: int, batch_size: int = 64) -> torch.Tensor:
    """(N, hidden) mean-pooled last hidden states of a `VideoMAEModel`."""
    encoder.eval()
    out = [encoder(pixel_values=pixel_values(clips[i:i + batch_size], size)).last_hidden_state.mean(1)
           for i in range(0, len(clips), batch_size)]
    return torch.cat(out)


def linear_probe(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor,
                 test_y: np.ndarray, weight_decay: float = 1e-3, seed: int = 0) -> float:
    """Fit logistic regression on train, return accuracy on test."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    classes = np.unique(train_y)
    remap = {c: i for i, c in enumerate(classes)}
    ytr = torch.tensor([remap[c] for c in train_y])
    torch.manual_seed(seed)
    layer = torch.nn.Linear(xtr.shape[1], len(classes))
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(xtr), ytr)
        loss = loss + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = classes[layer(xte).argmax(1).numpy()]
    return float((predicted == test_y).mean())


def twin_probe(train_x, train_y, test_x, test_y, actions: tuple[str, ...],
               reversed_of: dict[str, str]) -> float:
    """Temporal-order probe: for each action and its time-reversed twin, a binary linear probe
    on clips of just those two classes; returns held-out accuracy over all twin pairs.

    The two classes of a pair show the same shapes and the same frames in opposite order, so a
    feature that ignores temporal order scores 50% here.
    """
    correct, total = 0, 0
    done = set()
    for name, twin in reversed_of.items():
        if twin == name or (twin, name) in done or name not in actions or twin not in actions:
            continue
        done.add((name, twin))
        pair = [actions.index(name), actions.index(twin)]
        tr, te = np.isin(train_y, pair), np.isin(test_y, pair)
        accuracy = linear_probe(train_x[tr], train_y[tr], test_x[te], test_y[te])
        correct += accuracy * int(te.sum())
        total += int(te.sum())
    return correct / max(1, total)


def effective_rank(x: torch.Tensor) -> float:
    """exp of the entropy of the squared singular values' shares of the centred rows of `x`: how
    many directions its rows spread along (0 when all rows are one vector)."""
    values = torch.linalg.svdvals(x - x.mean(0)).double() ** 2
    if float(values.sum()) <= 1e-12 * max(1.0, float(x.double().pow(2).sum())):
        return 0.0
    shares = values / values.sum()
    shares = shares[shares > 0]
    return float(torch.exp(-(shares * shares.log()).sum()))


def geometry_of(hidden: torch.Tensor) -> dict:
    """(clips, tokens, dims) last hidden states -> how alike a clip's tokens are, and how many
    directions tokens and clips spread along.

    token_cosine: mean cosine of each token to its clip's mean token (1: every token one vector,
    so nothing local is left for a head to read); token_rank: the effective rank of a clip's tokens,
    mean over clips; clip_rank: the effective rank of the clips' mean-pooled features."""
    pooled = hidden.mean(1)
    cosine = torch.nn.functional.cosine_similarity(hidden, pooled[:, None, :], dim=-1, eps=1e-12)
    return {"token_cosine": float(cosine.mean()),
            "token_rank": float(np.mean([effective_rank(tokens) for tokens in hidden])),
            "clip_rank": effective_rank(pooled)}


@torch.no_grad()
def token_geometry(encoder, clips: np.ndarray, size: int, batch_size: int = 64) -> dict:
    """`geometry_of` a `VideoMAEModel`'s tokens of whole, unmasked clips: where an encoder whose
    pretraining collapsed towards the targets' mean shows it, whatever its probes say."""
    encoder.eval()
    hidden = torch.cat([encoder(pixel_values=pixel_values(clips[i:i + batch_size], size)).last_hidden_state
                        for i in range(0, len(clips), batch_size)])
    return geometry_of(hidden)
