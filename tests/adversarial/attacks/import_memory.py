# where: top
# Takes memory 1 GiB at a time, up to 40 GiB, touching every page.
import torch
hoard = [torch.ones(1 << 28) for _ in range(40)]
