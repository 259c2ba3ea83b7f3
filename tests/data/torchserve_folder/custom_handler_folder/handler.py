"""Custom handler: top class by name."""
import json
import os

import torch
from ts.torch_handler.image_classifier import ImageClassifier


class TinyClassifier(ImageClassifier):
    topk = 1

    def initialize(self, context):
        super().initialize(context)
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "index_to_name.json")) as f:
            self.names = json.load(f)

    def postprocess(self, data):
        top = torch.argmax(data, dim=1)
        return [self.names.get(str(int(i)), str(int(i))) for i in top]
