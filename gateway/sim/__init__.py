"""Simulation, replay and evaluation: personas, labelled traffic, backtests and reports."""

from gateway.sim.live import LiveError, LiveResult, run_live
from gateway.sim.personas import ABUSE, BENIGN, EVASIONS, Persona
from gateway.sim.scenarios import SCENARIOS, Scenario, build, get_scenario

__all__ = ["ABUSE", "BENIGN", "EVASIONS", "SCENARIOS", "LiveError", "LiveResult", "Persona", "Scenario", "build",
           "get_scenario", "run_live"]
