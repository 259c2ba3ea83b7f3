"""OpenVINO IR and PMML samples (issue 16), hand-written from the formats' specifications: an IR
`.xml` as `openvino.save_model` writes it (IR version 11, layers with `opsetN` versions, `Const`
data at offsets of the `.bin` beside it), and PMML 4.4 as sklearn2pmml writes it (Header,
MiningBuildTask with the pipeline's repr in an Extension, DataDictionary, TreeModel).

Attacks: an extension-op layer, DOCTYPEs with external entities (XXE) and entity bombs, Python
code in a PMML Extension. Payloads are harmless (`echo quarantine-sample`, 192.0.2.0/24).
Standard library only.
"""

from __future__ import annotations

import struct

CLEAN, SUSPICIOUS, MALICIOUS = "clean", "suspicious", "malicious"

RULES = {
    "OVN001": ("openvino-custom-layer", SUSPICIOUS),
    "OVN002": ("openvino-xml-doctype", SUSPICIOUS),
    "OVN003": ("openvino-xml-external-entity", MALICIOUS),
    "OVN004": ("openvino-malformed", SUSPICIOUS),
    "OVN005": ("openvino-weights-file", CLEAN),
    "PML001": ("pmml-xml-external-entity", MALICIOUS),
    "PML002": ("pmml-xml-doctype", SUSPICIOUS),
    "PML003": ("pmml-malformed", SUSPICIOUS),
    "PML004": ("pmml-extension", CLEAN),
    "PML005": ("pmml-embedded-code", SUSPICIOUS),
}

WEIGHTS = struct.pack("<4f", 0.5, -0.25, 1.0, 0.125) + struct.pack("<2f", 0.1, -0.1)


def openvino_ir(doctype: str = "", custom: bool = False, weights_size: int = 16) -> bytes:
    extra = ""
    if custom:
        extra = '''
\t\t<layer id="5" name="postprocess" type="MyShellOp" version="custom_opset">
\t\t\t<data command="echo quarantine-sample" />
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</input>
\t\t\t<output>
\t\t\t\t<port id="1" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>'''
    text = f'''<?xml version="1.0"?>
{doctype}<net name="tiny_linear" version="11">
\t<layers>
\t\t<layer id="0" name="x" type="Parameter" version="opset1">
\t\t\t<data shape="1,2" element_type="f32" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="FP32" names="x"><dim>1</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="1" name="fc.weight" type="Const" version="opset1">
\t\t\t<data element_type="f32" shape="2, 2" offset="0" size="{weights_size}" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="FP32" names="fc.weight"><dim>2</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="2" name="MatMul" type="MatMul" version="opset1">
\t\t\t<data transpose_a="false" transpose_b="true" />
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t\t<port id="1" precision="FP32"><dim>2</dim><dim>2</dim></port>
\t\t\t</input>
\t\t\t<output>
\t\t\t\t<port id="2" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="3" name="fc.bias" type="Const" version="opset1">
\t\t\t<data element_type="f32" shape="1, 2" offset="16" size="8" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="4" name="Add" type="Add" version="opset1">
\t\t\t<data auto_broadcast="numpy" />
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t\t<port id="1" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</input>
\t\t\t<output>
\t\t\t\t<port id="2" precision="FP32" names="y"><dim>1</dim><dim>2</dim></port>
\t\t\t</output>
\t\t</layer>{extra}
\t\t<layer id="6" name="y" type="Result" version="opset1">
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port>
\t\t\t</input>
\t\t</layer>
\t</layers>
\t<edges>
\t\t<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />
\t\t<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />
\t\t<edge from-layer="2" from-port="2" to-layer="4" to-port="0" />
\t\t<edge from-layer="3" from-port="0" to-layer="4" to-port="1" />
\t\t<edge from-layer="4" from-port="2" to-layer="6" to-port="0" />
\t</edges>
\t<rt_info>
\t\t<MO_version value="2025.3.0" />
\t\t<Runtime_version value="2025.3.0" />
\t</rt_info>
</net>
'''
    return text.encode()


def pmml(doctype: str = "", extension: str = "PMMLPipeline(steps=[('classifier', DecisionTreeClassifier())])") -> bytes:
    text = f'''<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
{doctype}<PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable" version="4.4">
\t<Header>
\t\t<Application name="SkLearn2PMML package" version="0.120.1"/>
\t\t<Timestamp>2026-11-30T22:00:00Z</Timestamp>
\t</Header>
\t<MiningBuildTask>
\t\t<Extension name="repr">{extension}</Extension>
\t</MiningBuildTask>
\t<DataDictionary>
\t\t<DataField name="y" optype="categorical" dataType="integer">
\t\t\t<Value value="0"/>
\t\t\t<Value value="1"/>
\t\t</DataField>
\t\t<DataField name="x1" optype="continuous" dataType="double"/>
\t</DataDictionary>
\t<TreeModel functionName="classification" algorithmName="sklearn.tree._classes.DecisionTreeClassifier" missingValueStrategy="nullPrediction">
\t\t<MiningSchema>
\t\t\t<MiningField name="y" usageType="target"/>
\t\t\t<MiningField name="x1"/>
\t\t</MiningSchema>
\t\t<Output>
\t\t\t<OutputField name="probability(0)" optype="continuous" dataType="double" feature="probability" value="0"/>
\t\t\t<OutputField name="probability(1)" optype="continuous" dataType="double" feature="probability" value="1"/>
\t\t</Output>
\t\t<Node>
\t\t\t<True/>
\t\t\t<Node score="1" recordCount="3">
\t\t\t\t<SimplePredicate field="x1" operator="greaterThan" value="0.5"/>
\t\t\t\t<ScoreDistribution value="0" recordCount="0"/>
\t\t\t\t<ScoreDistribution value="1" recordCount="3"/>
\t\t\t</Node>
\t\t\t<Node score="0" recordCount="3">
\t\t\t\t<True/>
\t\t\t\t<ScoreDistribution value="0" recordCount="3"/>
\t\t\t\t<ScoreDistribution value="1" recordCount="0"/>
\t\t\t</Node>
\t\t</Node>
\t</TreeModel>
</PMML>
'''
    return text.encode()


XXE_FILE = '<!DOCTYPE net [\n  <!ENTITY secret SYSTEM "file:///etc/hostname">\n]>\n'
XXE_URL = '<!DOCTYPE PMML [\n  <!ENTITY beacon SYSTEM "http://192.0.2.1/quarantine-sample.dtd">\n]>\n'
LAUGHS = ('<!DOCTYPE PMML [\n  <!ENTITY lol "lol">\n'
          + "".join(f'  <!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n' for i in range(1, 10))
          + ']>\n')
PY_EXTENSION = '''
import os
def transform(x):
    os.system("echo quarantine-sample")
    return x
'''


def samples(register, g) -> None:
    register("benign/openvino_ir/model.xml", CLEAN,
             desc="an OpenVINO IR (version 11) as openvino.save_model writes it: Parameter, Const, MatMul, Add, "
                  "Result in opset1, constants at offsets of model.bin",
             build=lambda: openvino_ir())
    register("benign/openvino_ir/model.bin", CLEAN, ("OVN005", "model.xml"),
             desc="the raw weights file of benign/openvino_ir/model.xml (known as its weights, not an unknown binary)",
             build=lambda: WEIGHTS)
    register("malicious/openvino_custom_layer.xml", SUSPICIOUS, ("OVN001", "MyShellOp"),
             desc="an OpenVINO IR with a layer whose version is no opset (an extension op: a native library the "
                  "application must load)",
             build=lambda: openvino_ir(custom=True))
    register("malicious/openvino_xxe.xml", MALICIOUS, ("OVN003", "file:///etc/hostname"),
             desc="an OpenVINO IR whose DOCTYPE declares an external entity reading a local file (XXE)",
             build=lambda: openvino_ir(doctype=XXE_FILE))
    register("malicious/openvino_truncated.xml", SUSPICIOUS, ("OVN004", "-"),
             desc="an OpenVINO IR cut off in the middle of its layers",
             build=lambda: openvino_ir()[:900])
    register("benign/pmml_tree.pmml", CLEAN, ("PML004", "repr"),
             desc="PMML 4.4 decision tree as sklearn2pmml writes it (pipeline repr in a MiningBuildTask Extension)",
             build=lambda: pmml())
    register("malicious/pmml_xxe.pmml", MALICIOUS, ("PML001", "192.0.2.1"),
             desc="a PMML document whose DOCTYPE declares an external entity fetched over HTTP (XXE)",
             build=lambda: pmml(doctype=XXE_URL))
    register("malicious/pmml_billion_laughs.pmml", SUSPICIOUS, ("PML002", "entity"),
             desc="a PMML document whose DOCTYPE declares nested entities (an expansion bomb)",
             build=lambda: pmml(doctype=LAUGHS))
    register("malicious/pmml_extension_python.pmml", SUSPICIOUS, ("PML005", "os.system"),
             desc="a PMML document with Python code in an Extension (run only by engines that evaluate extensions)",
             build=lambda: pmml(extension=PY_EXTENSION))
