# where: bottom
# A Conv2d whose groups is set to 0 after it is made (torch's constructor refuses 0; the attribute
# does not): the forward fails, and the module tree the child reports holds groups=0, which torch
# refuses with a ValueError when the grader's rebuild makes that layer. In the model's layer1, or
# (BLOCKS) in every ResidualBlock's first conv as well.
BLOCKS = False
_model_init = ResNet50_layer4.__init__
_block_init = ResidualBlock.__init__


def _first_conv(module):
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def _zero_in_model(self, *args, **kwargs):
    _model_init(self, *args, **kwargs)
    _first_conv(self).groups = 0


def _zero_in_block(self, *args, **kwargs):
    _block_init(self, *args, **kwargs)
    _first_conv(self).groups = 0


ResNet50_layer4.__init__ = _zero_in_model
if BLOCKS:
    ResidualBlock.__init__ = _zero_in_block
