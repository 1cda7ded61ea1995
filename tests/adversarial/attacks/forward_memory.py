# where: forward
# Takes memory 1 GiB at a time in forward, up to 40 GiB, touching every page.
hoard = [torch.ones(1 << 28) for _ in range(40)]
