import base64, zlib

def load(record):
    image = base64.b64decode(record['image'])
    shard = zlib.decompress(record['shard'])
    return image, shard

model.eval()  # inference mode
result = evaluate(model, data)
