"""Simulation, replay and evaluation: personas, labelled traffic, backtests and reports."""

from gateway.offline.live import LiveError, LiveResult, run_live
from gateway.offline.personas import ABUSE, BENIGN, EVASIONS, Persona
from gateway.offline.scenarios import SCENARIOS, Scenario, build, get_scenario

__all__ = ["ABUSE", "BENIGN", "EVASIONS", "SCENARIOS", "LiveError", "LiveResult", "Persona", "Scenario", "build",
           "get_scenario", "run_live"]
