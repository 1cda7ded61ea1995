# where: top
# A comment in Latin-1: café, not UTF-8.
