# where: bottom
# A module tree of 20 000 rows (the most a model message may hold): ReLUs in a Sequential the
# forward never uses, and an fc whose in_features makes the forward fail, so the grader rebuilds
# the whole reported tree to find the crash (a scan per row made that quadratic: ~85 s).
EXTRA = 20000 - 245 - 1
_init = ResNet50_layer4.__init__


def _big(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if EXTRA:
        self.extra = nn.Sequential(*[nn.ReLU() for _ in range(EXTRA)])
    self.fc = nn.Linear(1000, self.fc.out_features)


ResNet50_layer4.__init__ = _big
