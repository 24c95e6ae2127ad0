"""Building blocks of the tri-plane generator (StyleGAN2-style), written from the papers' facts."""
