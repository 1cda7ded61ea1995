"""Reference solution of `resnet50_skeleton.py`, written from the skeleton's contract.

Names, attribute order and the `is not` quirk in `ResidualBlock.forward` are part of the
contract: the course checkpoint's state_dict keys and its trained function depend on them.
This file imports nothing from the grader; it is also what a TA can hand out as the answer.
"""
import torch  # noqa: F401 - the skeleton imports it; students use torch.* in forward
import torch.nn as nn


def conv1x1(in_channels, out_channels, stride, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv3x3(in_channels, out_channels, stride, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


#####
# Question 1 : Implement the "bottle neck building block" part.
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, middle_channels, out_channels, downsample=False):
        super(ResidualBlock, self).__init__()
        self.downsample = downsample

        if self.downsample:
            self.layer = nn.Sequential(
                conv1x1(in_channels, middle_channels, 2, 0),
                conv3x3(middle_channels, middle_channels, 1, 1),
                conv1x1(middle_channels, out_channels, 1, 0),
            )
            self.downsize = conv1x1(in_channels, out_channels, 2, 0)

        else:
            self.layer = nn.Sequential(
                conv1x1(in_channels, middle_channels, 1, 0),
                conv3x3(middle_channels, middle_channels, 1, 1),
                conv1x1(middle_channels, out_channels, 1, 0),
            )
            self.make_equal_channel = conv1x1(in_channels, out_channels, 1, 0)

    def forward(self, x):
        if self.downsample:
            out = self.layer(x)
            x = self.downsize(x)
            return out + x
        else:
            out = self.layer(x)
            # `is not` compares identity, so this is always true: the checkpoint was trained so.
            if x.size() is not out.size():
                x = self.make_equal_channel(x)
            return out + x


#####
# Question 2 : Implement the "ResNet50_layer4" part.
class ResNet50_layer4(nn.Module):
    def __init__(self, num_classes=10):
        super(ResNet50_layer4, self).__init__()

        self.layer1 = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3),  # (B, 64, 16, 16)
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),  # (B, 64, 8, 8)
        )
        self.layer2 = nn.Sequential(
            ResidualBlock(64, 64, 256, False),
            ResidualBlock(256, 64, 256, False),
            ResidualBlock(256, 64, 256, True),  # (B, 256, 4, 4)
        )
        self.layer3 = nn.Sequential(
            ResidualBlock(256, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, False),
            ResidualBlock(512, 128, 512, True),  # (B, 512, 2, 2)
        )
        self.layer4 = nn.Sequential(
            ResidualBlock(512, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),
            ResidualBlock(1024, 256, 1024, False),  # (B, 1024, 2, 2)
        )

        self.fc = nn.Linear(1024, num_classes)
        self.avgpool = nn.AvgPool2d(2, 2)  # (B, 1024, 1, 1)

        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight.data)
            elif isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight.data)

    def forward(self, x):
        out = self.layer1(x)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = self.avgpool(out)
        out = out.view(out.size(0), -1)
        out = self.fc(out)
        return out
