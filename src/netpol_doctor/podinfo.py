"""`pod`: which policies select a pod, per direction, and what each rule admits.

Imports `model`, `snapshot`, `engine`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import selecting_policies
from .model import Direction, NetworkPolicy, Pod, Rule
from .snapshot import Snapshot

__all__ = ["DirectionView", "PodView", "pod_view"]


@dataclass(frozen=True, slots=True)
class DirectionView:
    direction: Direction
    #: policies that select the pod and control this direction
    isolated_by: tuple[NetworkPolicy, ...]
    #: rules of those policies, in policy then rule order
    rules: tuple[tuple[NetworkPolicy, Rule], ...]
    #: policies that select the pod, carry rules for this direction, but do not control
    #: it (NP-26: rules for a direction missing from policyTypes do nothing)
    ignored: tuple[NetworkPolicy, ...]

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_by)


@dataclass(frozen=True, slots=True)
class PodView:
    pod: Pod
    selected_by: tuple[NetworkPolicy, ...]
    ingress: DirectionView
    egress: DirectionView


def pod_view(snapshot: Snapshot, pod: Pod) -> PodView:
    selecting = tuple(selecting_policies(snapshot, pod)) if not pod.host_network else ()

    def view(direction: Direction) -> DirectionView:
        isolated = tuple(p for p in selecting if p.controls(direction))
        rules = tuple((p, r) for p in isolated for r in p.rules(direction))
        ignored = tuple(p for p in selecting if not p.controls(direction) and p.rules(direction))
        return DirectionView(direction, isolated, rules, ignored)

    return PodView(pod, selecting, view(Direction.INGRESS), view(Direction.EGRESS))
