"""Training loops of the public stages (autoencoder, latent diffusion) and the run-folder plumbing they share."""
