"""Privacy accounting: epsilon of DP-SGD, noise calibration, the run's ledger and its privacy facts."""

from dpldm.privacy.accountant import ACCOUNTANTS, Accountant, calibrate_noise, epsilon, steps_for_epochs
from dpldm.privacy.facts import PrivacyFacts
from dpldm.privacy.ledger import PrivacyLedger

__all__ = ["ACCOUNTANTS", "Accountant", "PrivacyFacts", "PrivacyLedger", "calibrate_noise", "epsilon",
           "steps_for_epochs"]
