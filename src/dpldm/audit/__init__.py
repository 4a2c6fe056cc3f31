"""Empirical privacy audits: attacks that try to show more privacy loss than the accountant claims.

bounds          Clopper-Pearson epsilon lower bound from a membership test's outcomes
membership      AUC [CI] and TPR at low FPR of a membership score
attack          the calibrated denoising-loss membership attack on a fine-tuned latent diffusion model
design          the audit's public coins and the canaries inserted into the private set
finetune_audit  `dpldm audit membership`: design -> fine-tune -> attack -> report, resumable
whitebox        `dpldm audit whitebox`: a gradient canary against the DP-SGD engine (Nasr et al. 2021)

The audit depends on finetune, dp and diffusion; nothing depends on it.
"""
