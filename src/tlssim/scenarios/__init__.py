"""Named fault scenarios: a set-up, a handshake and the exact outcome expected."""

from tlssim.scenarios.catalogue import SCENARIOS
from tlssim.scenarios.model import Expect, Fault, Scenario
from tlssim.scenarios.runner import ScenarioResult, run_scenarios

__all__ = ["SCENARIOS", "Expect", "Fault", "Scenario", "ScenarioResult", "run_scenarios"]
