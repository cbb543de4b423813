"""Stand-in for torchvision: the reference imports torchvision.utils only to save images."""
