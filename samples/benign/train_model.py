import argparse
import json
import os

import torch
from torch import nn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="checkpoints")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = nn.Linear(16, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(args.epochs):
        x = torch.randn(32, 16)
        loss = model(x).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        print(json.dumps({"epoch": epoch, "loss": loss.item()}))
    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))


if __name__ == "__main__":
    main()
